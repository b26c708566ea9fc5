import { SchedulerError } from '../errors';
import type { Collector } from './contract';

/** The collectors this process can run, by name. Registering a name twice is a bug, not an override. */
export class CollectorRegistry {
  private readonly byName = new Map<string, Collector<unknown>>();

  constructor(collectors: Iterable<Collector<unknown>> = []) {
    for (const c of collectors) this.register(c);
  }

  register(collector: Collector<unknown>): this {
    if (this.byName.has(collector.name)) {
      throw new SchedulerError(
        'COLLECTOR_DUPLICATE',
        `a collector named "${collector.name}" is already registered`,
      );
    }
    this.byName.set(collector.name, collector);
    return this;
  }

  get(name: string): Collector<unknown> | undefined {
    return this.byName.get(name);
  }

  names(): string[] {
    return [...this.byName.keys()];
  }

  all(): Collector<unknown>[] {
    return [...this.byName.values()];
  }
}
