/**
 * Lines written in batches: every line given before the event loop turns goes out in one write. A run
 * of 5,000 collectors prints 10,000 progress lines; one write (and one secret scrub) each was a tenth
 * of the whole process's CPU, and stderr to a pipe or a file writes synchronously.
 */
export interface BatchedLines {
  line(text: string): void;
  /** Writes what is pending now (before a summary, or when the command ends). */
  flush(): void;
}

export function batchedLines(write: (text: string) => void): BatchedLines {
  let pending: string[] = [];
  let scheduled: NodeJS.Immediate | null = null;
  const flush = () => {
    if (scheduled) clearImmediate(scheduled);
    scheduled = null;
    if (pending.length === 0) return;
    const text = pending.join('');
    pending = [];
    write(text);
  };
  return {
    line(text) {
      pending.push(`${text}\n`);
      scheduled ??= setImmediate(flush);
    },
    flush,
  };
}
