/** Adds authentication headers to a request for a given URL (its audience, for ID tokens). */
export interface HeaderProvider {
  headersFor(url: string): Promise<Record<string, string>>;
}

export const noAuth: HeaderProvider = { headersFor: async () => ({}) };
