"""Model routes: one OpenAI-compatible URL in front of a team's small and large endpoints.

Rendered for Envoy Gateway (gateway.envoyproxy.io Backend, BackendTrafficPolicy and
EnvoyExtensionPolicy plus a Gateway API HTTPRoute); see docs/routes.md.
"""
