FROM python:3.13-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app
# The locked versions first (requirements.txt, hashes checked), so this layer is cached.
COPY requirements.txt ./
RUN pip install --no-cache-dir --require-hashes -r requirements.txt
COPY . .
RUN pip install --no-cache-dir --no-deps . \
 && STATIC_HASHED_NAMES=true python manage.py collectstatic --noinput
RUN useradd --system --uid 10001 modelport
USER modelport
EXPOSE 8000
CMD ["gunicorn", "-c", "portal/gunicorn.conf.py", "portal.wsgi:application"]
