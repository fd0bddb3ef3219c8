# The production image: gunicorn serves the site (whitenoise serves static files); the same image runs the
# Celery worker and beat.
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY portal portal
COPY tenants tenants
COPY directory_sync directory_sync
COPY signatures signatures
COPY entra_emulator entra_emulator
RUN pip install .
COPY . .
RUN SECRET_KEY=build FIELD_ENCRYPTION_KEYS=Ym9ndXMtYnVpbGQta2V5LW5vdC11c2VkLWF0LXJ1bnRpbWU9PQ== \
    python manage.py collectstatic --noinput
RUN useradd --create-home signet && mkdir -p /app/var && chown -R signet /app/var
USER signet
EXPOSE 8000
CMD ["gunicorn", "portal.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "3", "--access-logfile", "-"]
