/** A progress callback the CLI turns into a spinner; domain code calls it and never prints. */
export interface Progress {
  update(text: string): void;
}

export const silentProgress: Progress = { update: () => undefined };
