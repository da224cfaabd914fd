import type { AudienceSpec } from '../audience/types.js';
import type { Experiment } from '../experiments/types.js';

export interface CampaignSchedule {
  /** Wall-clock time; undefined = send as soon as possible. */
  at: { date: string /* YYYY-MM-DD */; time: string /* HH:mm */ } | undefined;
  /** 'subscriber' (each subscriber's own zone) or an IANA zone applied to everyone. */
  timezone: 'subscriber' | string;
  late: 'send' | 'skip';
  lateGraceSeconds: number;
}

export interface LoadedCampaign {
  id: number;
  name: string;
  /** Absolute path of the YAML file. */
  file: string;
  /** Relative to config.root. */
  relFile: string;
  subject: string;
  preheader: string | undefined;
  from: string;
  /** Every reply-to address joined with ", " (see replyToList). */
  replyTo: string | undefined;
  replyToList: string[];
  /** Absolute. */
  templatePath: string;
  /** Relative to config.root. */
  relTemplate: string;
  /** The template (first) and every partial it includes, as read and checked when loading. */
  sources: { file: string; text: string }[];
  data: Record<string, unknown>;
  /** Who gets it: tags, a segment's and the campaign's conditions, sunsetting (src/audience). */
  audience: AudienceSpec;
  schedule: CampaignSchedule;
  utm: Record<string, string> | undefined;
  transactional: boolean;
  /** sha256 hex over the YAML bytes and the template bytes: editing either changes it. */
  contentHash: string;
  /** How unsubscribing works for this campaign, resolved from the config. */
  unsubscribe: UnsubscribeMode;
  /** Things that are allowed but worth saying (e.g. the development unsubscribe secret). */
  warnings: string[];
  /** `variants:` and `test:`: an A/B test (src/experiments/). */
  experiment?: Experiment;
}

export type UnsubscribeMode =
  | { kind: 'token'; baseUrl: string; secret: string; development: boolean }
  | { kind: 'list-management'; contactListName: string; topicName: string }
  | { kind: 'none' };

export interface RenderRecipient {
  subscriberId: string;
  email: string;
  first_name: string | null;
  last_name: string | null;
  timezone: string;
  attributes: Record<string, unknown>;
}

export interface RenderedMessage {
  subject: string;
  preheader: string | undefined;
  html: string;
  text: string;
  from: string;
  replyTo: string[];
  /** List-Unsubscribe and List-Unsubscribe-Post; empty with list management or for transactional mail. */
  headers: { name: string; value: string }[];
  unsubscribeUrl: string | undefined;
  listManagement: { contactListName: string; topicName: string } | undefined;
}

export interface CompiledCampaign {
  campaign: LoadedCampaign;
  /** http(s) links in the compiled template, after UTM decoration, in document order, unique. */
  links: string[];
  /** MJML's output came from the compile cache (.marketer/cache): MJML did not run for it. */
  cached: boolean;
  /** Synchronous and pure: the same recipient always gives the same message. */
  render(recipient: RenderRecipient): RenderedMessage;
  /** Each variant of an A/B test compiled on its own, by name (the first is the default). */
  variants?: ReadonlyMap<string, CompiledCampaign>;
}
