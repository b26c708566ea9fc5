// Test processes never reach Google: no gcloud spawn for the project id, no metadata server probe,
// and no credentials from the developer's machine.
process.env.GOOGLE_CLOUD_PROJECT = 'test-project';
process.env.METADATA_SERVER_DETECTION = 'none';
for (const name of [
  'GOOGLE_APPLICATION_CREDENTIALS',
  'K_SERVICE',
  'FUNCTION_NAME',
  'CLOUD_RUN_JOB',
  'SCHEDULER_CONFIG',
  'STORAGE_EMULATOR_HOST',
  'GCE_METADATA_HOST',
  'CLOUD_TASKS_EMULATOR_HOST',
]) {
  delete process.env[name];
}
