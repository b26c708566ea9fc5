import { randomBytes } from 'node:crypto';

/** `20261122T140000Z-1a2b3c4d`: sortable by start time, and it names the report's date folder. */
export function newExecutionId(nowMs: number, random: () => Buffer = () => randomBytes(4)): string {
  const stamp = new Date(nowMs)
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}Z$/, 'Z');
  return `${stamp}-${random().toString('hex')}`;
}
