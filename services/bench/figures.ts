/** One benchmark figure, as `ipiscope bench --json` prints it (one per line). */
export interface Figure {
  bench: string;
  value: number;
  unit: string;
  [extra: string]: unknown;
}

export interface Bench {
  /** Name prefix; `ipiscope bench NAME` selects the benches whose name starts with NAME. */
  name: string;
  summary: string;
  run(): Promise<Figure[]>;
}
