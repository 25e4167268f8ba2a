"""portal.validators.time_zone_choices: the zone menu is built once per process, and each call
still returns its own list with the same choices."""

from portal.validators import COMMON_TIME_ZONES, time_zone_choices, time_zones


def _flat(choices) -> list[str]:
    return [
        v
        for value, label in choices
        for v in ([value] if isinstance(label, str) else [z for z, _ in label])
    ]


def test_blank_prompt_then_common_zones_then_regions():
    choices = time_zone_choices()
    assert choices[0] == ("", "Choose a time zone…")
    assert choices[1][0] == "Common"
    assert [z for z, _ in choices[1][1]] == [z for z in COMMON_TIME_ZONES if z in time_zones()]
    assert [region for region, _ in choices[2:]] == sorted(region for region, _ in choices[2:])
    assert ("America/New_York", "America/New York") in choices[1][1]
    assert "Europe/Berlin" in _flat(choices) and "US/Eastern" not in _flat(choices)


def test_a_valid_zone_outside_the_menu_is_offered_when_it_is_the_current_one():
    assert time_zone_choices("US/Eastern")[1] == ("US/Eastern", "US/Eastern")
    assert time_zone_choices("Europe/Berlin") == time_zone_choices()
    assert time_zone_choices("Not/A_Zone") == time_zone_choices()


def test_each_call_returns_its_own_lists():
    first = time_zone_choices()
    first[1][1].clear()
    first.append(("x", "x"))
    assert time_zone_choices()[1][1] and time_zone_choices()[-1] != ("x", "x")
