/** One version of a campaign in an A/B test; unset fields are the campaign's own. */
export interface LoadedVariant {
  /** Letters, digits, _ and - (it travels as an SES EmailTag value). */
  name: string;
  subject: string | undefined;
  preheader: string | undefined;
  /** Absolute, when the variant has its own template. */
  templatePath: string | undefined;
  relTemplate: string | undefined;
  /** The variant's template and its partials, as read and checked when loading. */
  sources: { file: string; text: string }[];
}

export type TestMetric = 'clicks' | 'opens';

export interface TestSettings {
  /** Share of the audience in the test, in (0, 1); the rest gets the winner. */
  share: number;
  metric: TestMetric;
  decideAfterSeconds: number;
}

/** `variants:` and `test:` of a campaign file. The first variant is the default. */
export interface Experiment {
  variants: LoadedVariant[];
  test: TestSettings;
}
