#!/bin/sh
# scheduler deploy for config/config.yaml: everything the Google Cloud project needs, each step create-or-update.
# Run it with sh (gcloud installed and authenticated), or `scheduler deploy --apply`.
# project my-project, region europe-west1, function scheduler on nodejs24 (gen2), service account scheduler@my-project.iam.gserviceaccount.com
# timeout 540 s = deadline 500 s + report budget 30 s + alerts 10 s; Cloud Scheduler waits 570 s
# storage: reports gs://my-data-bucket/scheduler/reports, raw gs://my-data-bucket/scheduler/raw, state gs://my-data-bucket/scheduler/state
# 1 Cloud Scheduler job (UTC): every minute a collector fires at is in exactly one job, so no tick runs twice;
#   over a week they fire 336 times, 0 of them with nothing due
#   scheduler-tick-0-30_x_x_x_x: "0,30 * * * *" for dvf, sirene, plu, xmp
# a retried tick that already ran answers 409 and dispatches nothing (tick markers), so retries are safe
# callers: Cloud Scheduler sends OIDC tokens minted as scheduler@my-project.iam.gserviceaccount.com for https://europe-west1-my-project.cloudfunctions.net/scheduler; Cloud Run checks them (IAM), and the function itself checks nobody (incoming_auth none)
# note: Cloud Run service sirene-collector (sirene-collector-abc123-ew.a.run.app) is assumed to be in europe-west1, my-project: its URL only carries a region code
# note: scheduler.incoming_auth is none, which a deployed function refuses to start with (see Security): set incoming_auth: { type: google-id-token, audiences: [https://europe-west1-my-project.cloudfunctions.net/scheduler], allowed_emails: [scheduler@my-project.iam.gserviceaccount.com] } before --apply, or read them from $SCHEDULER_INCOMING_AUTH, $SCHEDULER_AUDIENCE and $SCHEDULER_SERVICE_ACCOUNT, which deploy sets, as config/config.yaml does
# note: alerts.slack reads $SLACK_WEBHOOK_URL, which the function will not have: map it from Secret Manager with deploy.secrets (SLACK_WEBHOOK_URL: <secret>:latest)
# note: cloud_functions.runtime python311 is not used: this scheduler is Node.js code and runs on nodejs24
set -eu
DEPLOY_DIR=$(mktemp -d)
trap 'rm -rf "$DEPLOY_DIR"' EXIT

# APIs
gcloud services enable cloudfunctions.googleapis.com run.googleapis.com cloudbuild.googleapis.com artifactregistry.googleapis.com cloudscheduler.googleapis.com storage.googleapis.com iam.googleapis.com logging.googleapis.com monitoring.googleapis.com secretmanager.googleapis.com cloudtasks.googleapis.com --project=my-project

# service account scheduler@my-project.iam.gserviceaccount.com
gcloud iam service-accounts describe scheduler@my-project.iam.gserviceaccount.com --project=my-project >/dev/null 2>&1 || gcloud iam service-accounts create scheduler --project=my-project '--display-name=Collector scheduler'

# lifecycle rules of gs://my-data-bucket
cat > "${DEPLOY_DIR}/lifecycle-my-data-bucket.json" <<'EOF'
{
  "rule": [
    {
      "action": {
        "type": "Delete"
      },
      "condition": {
        "age": 30,
        "matchesPrefix": [
          "scheduler/state/ticks/",
          "scheduler/state/runs/"
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
          "scheduler/reports/2"
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
          "scheduler/reports/index/"
        ]
      }
    }
  ]
}
EOF

# bucket gs://my-data-bucket
gcloud storage buckets describe gs://my-data-bucket --project=my-project >/dev/null 2>&1 || gcloud storage buckets create gs://my-data-bucket --project=my-project --location=europe-west1 --uniform-bucket-level-access --public-access-prevention

# lifecycle of gs://my-data-bucket
gcloud storage buckets update gs://my-data-bucket --project=my-project "--lifecycle-file=${DEPLOY_DIR}/lifecycle-my-data-bucket.json"

# objects of gs://my-data-bucket for scheduler@my-project.iam.gserviceaccount.com
gcloud storage buckets add-iam-policy-binding gs://my-data-bucket --project=my-project --member=serviceAccount:scheduler@my-project.iam.gserviceaccount.com --role=roles/storage.objectUser

# Cloud Tasks queue data-collectors (dvf, sirene, insee_contours, plu, xmp)
if gcloud tasks queues describe data-collectors --project=my-project --location=europe-west1 >/dev/null 2>&1; then
  gcloud tasks queues update data-collectors --project=my-project --location=europe-west1 --max-dispatches-per-second=5 --max-concurrent-dispatches=10 --max-attempts=5 --min-backoff=1s --max-backoff=30s
else
  gcloud tasks queues create data-collectors --project=my-project --location=europe-west1 --max-dispatches-per-second=5 --max-concurrent-dispatches=10 --max-attempts=5 --min-backoff=1s --max-backoff=30s
fi

# the scheduler may enqueue into data-collectors
gcloud tasks queues add-iam-policy-binding data-collectors --location=europe-west1 --project=my-project --member=serviceAccount:scheduler@my-project.iam.gserviceaccount.com --role=roles/cloudtasks.enqueuer

# the scheduler may have Cloud Tasks sign OIDC tokens as scheduler@my-project.iam.gserviceaccount.com
gcloud iam service-accounts add-iam-policy-binding scheduler@my-project.iam.gserviceaccount.com --project=my-project --member=serviceAccount:scheduler@my-project.iam.gserviceaccount.com --role=roles/iam.serviceAccountUser

# function scheduler (nodejs24, gen2)
gcloud functions deploy scheduler --gen2 --runtime=nodejs24 --region=europe-west1 --project=my-project --source=. --entry-point=scheduler --trigger-http --no-allow-unauthenticated --timeout=540s --memory=1024Mi --service-account=scheduler@my-project.iam.gserviceaccount.com --set-env-vars=GOOGLE_CLOUD_PROJECT=my-project,SCHEDULER_CONFIG=config/config.yaml

# Cloud Run accepts ID tokens for https://europe-west1-my-project.cloudfunctions.net/scheduler (custom audience of function scheduler)
gcloud run services update scheduler --region=europe-west1 --project=my-project --add-custom-audiences=https://europe-west1-my-project.cloudfunctions.net/scheduler

# URL of function scheduler
FUNCTION_URL=$(gcloud functions describe scheduler --region=europe-west1 --project=my-project '--format=value(serviceConfig.uri)')

# Cloud Scheduler's OIDC identity may invoke scheduler
gcloud functions add-invoker-policy-binding scheduler --region=europe-west1 --project=my-project --member=serviceAccount:scheduler@my-project.iam.gserviceaccount.com

# scheduler@my-project.iam.gserviceaccount.com may invoke function dvf (dvf)
gcloud functions add-invoker-policy-binding dvf --region=europe-west1 --project=my-project --member=serviceAccount:scheduler@my-project.iam.gserviceaccount.com

# scheduler@my-project.iam.gserviceaccount.com may invoke Cloud Run service sirene-collector (sirene)
gcloud run services add-iam-policy-binding sirene-collector --region=europe-west1 --project=my-project --member=serviceAccount:scheduler@my-project.iam.gserviceaccount.com --role=roles/run.invoker

# scheduler@my-project.iam.gserviceaccount.com may invoke function insee_contours (insee_contours)
gcloud functions add-invoker-policy-binding insee_contours --region=europe-west1 --project=my-project --member=serviceAccount:scheduler@my-project.iam.gserviceaccount.com

# scheduler@my-project.iam.gserviceaccount.com may invoke function plu (plu)
gcloud functions add-invoker-policy-binding plu --region=europe-west1 --project=my-project --member=serviceAccount:scheduler@my-project.iam.gserviceaccount.com

# scheduler@my-project.iam.gserviceaccount.com may invoke function xmp (xmp)
gcloud functions add-invoker-policy-binding xmp --region=europe-west1 --project=my-project --member=serviceAccount:scheduler@my-project.iam.gserviceaccount.com

# Cloud Scheduler job scheduler-tick-0-30_x_x_x_x (0,30 * * * *, UTC)
if gcloud scheduler jobs describe scheduler-tick-0-30_x_x_x_x --location=europe-west1 --project=my-project >/dev/null 2>&1; then
  gcloud scheduler jobs update http scheduler-tick-0-30_x_x_x_x --location=europe-west1 --project=my-project '--schedule=0,30 * * * *' --time-zone=UTC "--uri=${FUNCTION_URL}" --http-method=post --oidc-service-account-email=scheduler@my-project.iam.gserviceaccount.com --oidc-token-audience=https://europe-west1-my-project.cloudfunctions.net/scheduler --attempt-deadline=570s --max-retry-attempts=3 --min-backoff=30s --max-backoff=300s --max-doublings=2 '--description=Ticks of dvf, sirene, plu, xmp'
else
  gcloud scheduler jobs create http scheduler-tick-0-30_x_x_x_x --location=europe-west1 --project=my-project '--schedule=0,30 * * * *' --time-zone=UTC "--uri=${FUNCTION_URL}" --http-method=post --oidc-service-account-email=scheduler@my-project.iam.gserviceaccount.com --oidc-token-audience=https://europe-west1-my-project.cloudfunctions.net/scheduler --attempt-deadline=570s --max-retry-attempts=3 --min-backoff=30s --max-backoff=300s --max-doublings=2 '--description=Ticks of dvf, sirene, plu, xmp'
fi

# Cloud Scheduler jobs of scheduler the config no longer needs
for JOB in $(gcloud scheduler jobs list --location=europe-west1 --project=my-project '--format=value(name)'); do
  JOB=${JOB##*/}
  case "$JOB" in
    scheduler-tick-0-30_x_x_x_x) ;;
    scheduler-tick-*) gcloud scheduler jobs delete "${JOB}" --location=europe-west1 --project=my-project --quiet ;;
  esac
done

# log-based metric scheduler-collector-failing
if gcloud logging metrics describe scheduler-collector-failing --project=my-project >/dev/null 2>&1; then
  gcloud logging metrics update scheduler-collector-failing --project=my-project '--description=Collectors of scheduler that reached their failure threshold' '--log-filter=resource.type="cloud_run_revision" AND resource.labels.service_name="scheduler" AND labels.scheduler_alert="collector_failing"'
else
  gcloud logging metrics create scheduler-collector-failing --project=my-project '--description=Collectors of scheduler that reached their failure threshold' '--log-filter=resource.type="cloud_run_revision" AND resource.labels.service_name="scheduler" AND labels.scheduler_alert="collector_failing"'
fi

# e-mail notification channel for data-team@example.com
CHANNEL_1=$(gcloud beta monitoring channels list --project=my-project '--filter=type="email" AND labels.email_address="data-team@example.com"' '--format=value(name)' --limit=1)
[ -n "$CHANNEL_1" ] || CHANNEL_1=$(gcloud beta monitoring channels create --project=my-project --type=email '--display-name=Collector scheduler alerts (data-team@example.com)' --channel-labels=email_address=data-team@example.com '--format=value(name)')

# alert policy "Collector failing (scheduler)"
POLICY=$(gcloud alpha monitoring policies list --project=my-project '--filter=displayName="Collector failing (scheduler)"' '--format=value(name)' --limit=1)
if [ -n "$POLICY" ]; then
  gcloud alpha monitoring policies update "${POLICY}" --project=my-project '--policy={"displayName":"Collector failing (scheduler)","combiner":"OR","conditions":[{"displayName":"a collector failed failure_threshold times in a row, or recovered","conditionMatchedLog":{"filter":"resource.type=\"cloud_run_revision\" AND resource.labels.service_name=\"scheduler\" AND labels.scheduler_alert=(\"collector_failing\" OR \"collector_recovered\")","labelExtractors":{"collector":"EXTRACT(labels.collector)"}}}],"alertStrategy":{"notificationRateLimit":{"period":"300s"},"autoClose":"1800s"},"documentation":{"mimeType":"text/markdown","content":"A collector of the scheduler function `scheduler` failed failure_threshold times in a row (or recovered). See `scheduler history --collector NAME` or the report page (GET /ui)."},"enabled":true}' "--set-notification-channels=${CHANNEL_1}"
else
  gcloud alpha monitoring policies create --project=my-project '--policy={"displayName":"Collector failing (scheduler)","combiner":"OR","conditions":[{"displayName":"a collector failed failure_threshold times in a row, or recovered","conditionMatchedLog":{"filter":"resource.type=\"cloud_run_revision\" AND resource.labels.service_name=\"scheduler\" AND labels.scheduler_alert=(\"collector_failing\" OR \"collector_recovered\")","labelExtractors":{"collector":"EXTRACT(labels.collector)"}}}],"alertStrategy":{"notificationRateLimit":{"period":"300s"},"autoClose":"1800s"},"documentation":{"mimeType":"text/markdown","content":"A collector of the scheduler function `scheduler` failed failure_threshold times in a row (or recovered). See `scheduler history --collector NAME` or the report page (GET /ui)."},"enabled":true}' "--notification-channels=${CHANNEL_1}"
fi
