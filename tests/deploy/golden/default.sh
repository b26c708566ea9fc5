#!/bin/sh
# scheduler deploy for config/config.yaml: everything the Google Cloud project needs, each step create-or-update.
# Run it with sh (gcloud installed and authenticated), or `scheduler deploy --apply`.
# project my-project, region europe-west1, function scheduler on nodejs24 (gen2), service account scheduler@my-project.iam.gserviceaccount.com
# timeout 540 s = deadline 500 s + report budget 30 s + alerts 10 s; Cloud Scheduler waits 570 s
# storage: reports gs://my-project-scheduler/reports, raw gs://my-project-scheduler/raw, state gs://my-project-scheduler/state
# 2 Cloud Scheduler jobs (Europe/Paris): every minute a collector fires at is in exactly one job, so no tick runs twice;
#   over a week they fire 343 times, 0 of them with nothing due
#   scheduler-tick-0-30_x_x_x_x: "0,30 * * * *" for dvf, sirene, insee-contours, plu, xmp
#   scheduler-tick-5_1_x_x_x: "5 1 * * *" for xmp-daily
# a retried tick that already ran answers 409 and dispatches nothing (tick markers), so retries are safe
# callers: Cloud Scheduler sends OIDC tokens minted as scheduler@my-project.iam.gserviceaccount.com for https://europe-west1-my-project.cloudfunctions.net/scheduler; Cloud Run checks them (IAM), and the function checks them again itself (incoming_auth google-id-token)
# note: sirene reads $SIRENE_API_KEY, which the function will not have: map it from Secret Manager with deploy.secrets (SIRENE_API_KEY: <secret>:latest)
# note: no alert e-mail address (alerts.email, or the original monitoring.alert_email): the alert policy opens incidents but e-mails nobody
set -eu
DEPLOY_DIR=$(mktemp -d)
trap 'rm -rf "$DEPLOY_DIR"' EXIT

# APIs
gcloud services enable cloudfunctions.googleapis.com run.googleapis.com cloudbuild.googleapis.com artifactregistry.googleapis.com cloudscheduler.googleapis.com storage.googleapis.com iam.googleapis.com logging.googleapis.com monitoring.googleapis.com --project=my-project

# service account scheduler@my-project.iam.gserviceaccount.com
gcloud iam service-accounts describe scheduler@my-project.iam.gserviceaccount.com --project=my-project >/dev/null 2>&1 || gcloud iam service-accounts create scheduler --project=my-project '--display-name=Collector scheduler'

# lifecycle rules of gs://my-project-scheduler
cat > "${DEPLOY_DIR}/lifecycle-my-project-scheduler.json" <<'EOF'
{
  "rule": [
    {
      "action": {
        "type": "Delete"
      },
      "condition": {
        "age": 30,
        "matchesPrefix": [
          "state/ticks/",
          "state/runs/"
        ]
      }
    },
    {
      "action": {
        "type": "Delete"
      },
      "condition": {
        "age": 400,
        "matchesPrefix": [
          "reports/2"
        ]
      }
    },
    {
      "action": {
        "type": "Delete"
      },
      "condition": {
        "age": 431,
        "matchesPrefix": [
          "reports/index/"
        ]
      }
    }
  ]
}
EOF

# bucket gs://my-project-scheduler
gcloud storage buckets describe gs://my-project-scheduler --project=my-project >/dev/null 2>&1 || gcloud storage buckets create gs://my-project-scheduler --project=my-project --location=europe-west1 --uniform-bucket-level-access --public-access-prevention

# lifecycle of gs://my-project-scheduler
gcloud storage buckets update gs://my-project-scheduler --project=my-project "--lifecycle-file=${DEPLOY_DIR}/lifecycle-my-project-scheduler.json"

# objects of gs://my-project-scheduler for scheduler@my-project.iam.gserviceaccount.com
gcloud storage buckets add-iam-policy-binding gs://my-project-scheduler --project=my-project --member=serviceAccount:scheduler@my-project.iam.gserviceaccount.com --role=roles/storage.objectUser

# function scheduler (nodejs24, gen2)
gcloud functions deploy scheduler --gen2 --runtime=nodejs24 --region=europe-west1 --project=my-project --source=. --entry-point=scheduler --trigger-http --no-allow-unauthenticated --timeout=540s --memory=512Mi --service-account=scheduler@my-project.iam.gserviceaccount.com --set-env-vars=GOOGLE_CLOUD_PROJECT=my-project,SCHEDULER_AUDIENCE=https://europe-west1-my-project.cloudfunctions.net/scheduler,SCHEDULER_CONFIG=config/config.yaml,SCHEDULER_INCOMING_AUTH=google-id-token,SCHEDULER_MODE=http,SCHEDULER_RAW=gs://my-project-scheduler/raw,SCHEDULER_REGION=europe-west1,SCHEDULER_REPORTS=gs://my-project-scheduler/reports,SCHEDULER_SERVICE_ACCOUNT=scheduler@my-project.iam.gserviceaccount.com,SCHEDULER_STATE=gs://my-project-scheduler/state

# Cloud Run accepts ID tokens for https://europe-west1-my-project.cloudfunctions.net/scheduler (custom audience of function scheduler)
gcloud run services update scheduler --region=europe-west1 --project=my-project --add-custom-audiences=https://europe-west1-my-project.cloudfunctions.net/scheduler

# URL of function scheduler
FUNCTION_URL=$(gcloud functions describe scheduler --region=europe-west1 --project=my-project '--format=value(serviceConfig.uri)')

# Cloud Scheduler's OIDC identity may invoke scheduler
gcloud functions add-invoker-policy-binding scheduler --region=europe-west1 --project=my-project --member=serviceAccount:scheduler@my-project.iam.gserviceaccount.com

# Cloud Scheduler job scheduler-tick-0-30_x_x_x_x (0,30 * * * *, Europe/Paris)
if gcloud scheduler jobs describe scheduler-tick-0-30_x_x_x_x --location=europe-west1 --project=my-project >/dev/null 2>&1; then
  gcloud scheduler jobs update http scheduler-tick-0-30_x_x_x_x --location=europe-west1 --project=my-project '--schedule=0,30 * * * *' --time-zone=Europe/Paris "--uri=${FUNCTION_URL}" --http-method=post --oidc-service-account-email=scheduler@my-project.iam.gserviceaccount.com --oidc-token-audience=https://europe-west1-my-project.cloudfunctions.net/scheduler --attempt-deadline=570s --max-retry-attempts=3 --min-backoff=30s --max-backoff=300s --max-doublings=2 '--description=Ticks of dvf, sirene, insee-contours, plu, xmp'
else
  gcloud scheduler jobs create http scheduler-tick-0-30_x_x_x_x --location=europe-west1 --project=my-project '--schedule=0,30 * * * *' --time-zone=Europe/Paris "--uri=${FUNCTION_URL}" --http-method=post --oidc-service-account-email=scheduler@my-project.iam.gserviceaccount.com --oidc-token-audience=https://europe-west1-my-project.cloudfunctions.net/scheduler --attempt-deadline=570s --max-retry-attempts=3 --min-backoff=30s --max-backoff=300s --max-doublings=2 '--description=Ticks of dvf, sirene, insee-contours, plu, xmp'
fi

# Cloud Scheduler job scheduler-tick-5_1_x_x_x (5 1 * * *, Europe/Paris)
if gcloud scheduler jobs describe scheduler-tick-5_1_x_x_x --location=europe-west1 --project=my-project >/dev/null 2>&1; then
  gcloud scheduler jobs update http scheduler-tick-5_1_x_x_x --location=europe-west1 --project=my-project '--schedule=5 1 * * *' --time-zone=Europe/Paris "--uri=${FUNCTION_URL}" --http-method=post --oidc-service-account-email=scheduler@my-project.iam.gserviceaccount.com --oidc-token-audience=https://europe-west1-my-project.cloudfunctions.net/scheduler --attempt-deadline=570s --max-retry-attempts=3 --min-backoff=30s --max-backoff=300s --max-doublings=2 '--description=Ticks of xmp-daily'
else
  gcloud scheduler jobs create http scheduler-tick-5_1_x_x_x --location=europe-west1 --project=my-project '--schedule=5 1 * * *' --time-zone=Europe/Paris "--uri=${FUNCTION_URL}" --http-method=post --oidc-service-account-email=scheduler@my-project.iam.gserviceaccount.com --oidc-token-audience=https://europe-west1-my-project.cloudfunctions.net/scheduler --attempt-deadline=570s --max-retry-attempts=3 --min-backoff=30s --max-backoff=300s --max-doublings=2 '--description=Ticks of xmp-daily'
fi

# Cloud Scheduler jobs of scheduler the config no longer needs
for JOB in $(gcloud scheduler jobs list --location=europe-west1 --project=my-project '--format=value(name)'); do
  JOB=${JOB##*/}
  case "$JOB" in
    scheduler-tick-0-30_x_x_x_x|scheduler-tick-5_1_x_x_x) ;;
    scheduler-tick-*) gcloud scheduler jobs delete "${JOB}" --location=europe-west1 --project=my-project --quiet ;;
  esac
done

# log-based metric scheduler-collector-failing
if gcloud logging metrics describe scheduler-collector-failing --project=my-project >/dev/null 2>&1; then
  gcloud logging metrics update scheduler-collector-failing --project=my-project '--description=Collectors of scheduler that reached their failure threshold' '--log-filter=resource.type="cloud_run_revision" AND resource.labels.service_name="scheduler" AND labels.scheduler_alert="collector_failing"'
else
  gcloud logging metrics create scheduler-collector-failing --project=my-project '--description=Collectors of scheduler that reached their failure threshold' '--log-filter=resource.type="cloud_run_revision" AND resource.labels.service_name="scheduler" AND labels.scheduler_alert="collector_failing"'
fi

# alert policy "Collector failing (scheduler)"
POLICY=$(gcloud alpha monitoring policies list --project=my-project '--filter=displayName="Collector failing (scheduler)"' '--format=value(name)' --limit=1)
if [ -n "$POLICY" ]; then
  gcloud alpha monitoring policies update "${POLICY}" --project=my-project '--policy={"displayName":"Collector failing (scheduler)","combiner":"OR","conditions":[{"displayName":"a collector failed failure_threshold times in a row, or recovered","conditionMatchedLog":{"filter":"resource.type=\"cloud_run_revision\" AND resource.labels.service_name=\"scheduler\" AND labels.scheduler_alert=(\"collector_failing\" OR \"collector_recovered\")","labelExtractors":{"collector":"EXTRACT(labels.collector)"}}}],"alertStrategy":{"notificationRateLimit":{"period":"300s"},"autoClose":"1800s"},"documentation":{"mimeType":"text/markdown","content":"A collector of the scheduler function `scheduler` failed failure_threshold times in a row (or recovered). See `scheduler history --collector NAME` or the report page (GET /ui)."},"enabled":true}'
else
  gcloud alpha monitoring policies create --project=my-project '--policy={"displayName":"Collector failing (scheduler)","combiner":"OR","conditions":[{"displayName":"a collector failed failure_threshold times in a row, or recovered","conditionMatchedLog":{"filter":"resource.type=\"cloud_run_revision\" AND resource.labels.service_name=\"scheduler\" AND labels.scheduler_alert=(\"collector_failing\" OR \"collector_recovered\")","labelExtractors":{"collector":"EXTRACT(labels.collector)"}}}],"alertStrategy":{"notificationRateLimit":{"period":"300s"},"autoClose":"1800s"},"documentation":{"mimeType":"text/markdown","content":"A collector of the scheduler function `scheduler` failed failure_threshold times in a row (or recovered). See `scheduler history --collector NAME` or the report page (GET /ui)."},"enabled":true}'
fi
