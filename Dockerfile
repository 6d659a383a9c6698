FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1

WORKDIR /app
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt

COPY . .
# Static files are served by WhiteNoise from STATIC_ROOT.
RUN DJANGO_DEBUG=0 DJANGO_SECRET_KEY=collectstatic-only python manage.py collectstatic --noinput

# A user with a home: gunicorn keeps its control socket in ~/.gunicorn.
RUN useradd --system --uid 10001 --create-home --home-dir /home/toast --shell /usr/sbin/nologin toast
USER toast

# The port gunicorn listens on (it reads PORT): 8000 for the monolith and the
# frontend; compose.yaml builds the api's image with 8001.
ARG PORT=8000
ENV PORT=${PORT}
EXPOSE ${PORT}
CMD ["gunicorn", "toastsite.wsgi"]
