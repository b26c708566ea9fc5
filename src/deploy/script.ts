import { shellCommand, type DeployPlanText, type Step } from './steps';

/** The plan as a POSIX shell script: what `scheduler deploy` prints, and what `--apply` runs itself. */
export function renderScript(plan: DeployPlanText, source: string): string {
  const lines = [
    '#!/bin/sh',
    `# scheduler deploy for ${source}: everything the Google Cloud project needs, each step create-or-update.`,
    '# Run it with sh (gcloud installed and authenticated), or `scheduler deploy --apply`.',
    ...plan.header.map((h) => `# ${h}`),
    ...plan.notes.map((n) => `# note: ${n}`),
    'set -eu',
    'DEPLOY_DIR=$(mktemp -d)',
    `trap 'rm -rf "$DEPLOY_DIR"' EXIT`,
  ];
  for (const step of plan.steps) lines.push('', `# ${step.title}`, ...renderStep(step));
  return lines.join('\n') + '\n';
}

function renderStep(step: Step): string[] {
  switch (step.kind) {
    case 'run':
      return [shellCommand(step.args)];
    case 'ensure':
      return step.update
        ? [
            `if ${shellCommand(step.describe)} >/dev/null 2>&1; then`,
            `  ${shellCommand(step.update)}`,
            'else',
            `  ${shellCommand(step.create)}`,
            'fi',
          ]
        : [`${shellCommand(step.describe)} >/dev/null 2>&1 || ${shellCommand(step.create)}`];
    case 'capture':
      return [`${step.variable}=$(${shellCommand(step.args)})`];
    case 'find-or-create':
      return [
        `${step.variable}=$(${shellCommand(step.find)})`,
        `[ -n "$${step.variable}" ] || ${step.variable}=$(${shellCommand(step.create)})`,
      ];
    case 'upsert':
      return [
        `${step.variable}=$(${shellCommand(step.find)})`,
        `if [ -n "$${step.variable}" ]; then`,
        `  ${shellCommand(step.update)}`,
        'else',
        `  ${shellCommand(step.create)}`,
        'fi',
      ];
    case 'file':
      return [`cat > "\${DEPLOY_DIR}/${step.name}" <<'EOF'`, ...step.content.trimEnd().split('\n'), 'EOF'];
    case 'prune': {
      const keep = step.keep.length > 0 ? step.keep.join('|') : '""';
      return [
        `for JOB in $(${shellCommand(step.list)}); do`,
        '  JOB=${JOB##*/}',
        '  case "$JOB" in',
        `    ${keep}) ;;`,
        `    ${step.prefix}*) ${shellCommand(step.remove)} ;;`,
        '  esac',
        'done',
      ];
    }
  }
}
