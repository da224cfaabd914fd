import type { SESv2Client } from '@aws-sdk/client-sesv2';
import { describeAwsError } from './aws-error.js';
import { loadSesSdk, type SesSdk } from './ses-sdk.js';

/** The SES account as GetAccount reports it. */
export interface SesAccountInfo {
  sendingEnabled: boolean;
  /** HEALTHY, PROBATION or SHUTDOWN. */
  enforcementStatus: string | undefined;
  productionAccess: boolean;
  /** -1 means unlimited. */
  max24HourSend: number;
  sentLast24Hours: number;
  maxSendRate: number;
  /** Reasons the account-level suppression list keeps addresses for (BOUNCE, COMPLAINT). */
  suppressedReasons: string[];
}

export interface EmailIdentityInfo {
  name: string;
  type: string | undefined;
  verifiedForSending: boolean;
  verificationStatus: string | undefined;
  dkim: { signingEnabled: boolean; status: string | undefined; tokens: string[]; origin: string | undefined } | undefined;
  mailFrom: { domain: string; status: string | undefined } | undefined;
}

export interface ConfigurationSetInfo {
  name: string;
  sendingEnabled: boolean;
}

export interface EventDestinationInfo {
  name: string;
  enabled: boolean;
  types: string[];
  snsTopicArn: string | undefined;
}

/** The SES reads marketer makes about the sender's setup (never anything that sends or changes). */
export interface SesSetupReader {
  account(): Promise<SesAccountInfo>;
  /** undefined when SES has no such identity. */
  identity(name: string): Promise<EmailIdentityInfo | undefined>;
  /** undefined when the configuration set does not exist. */
  configurationSet(name: string): Promise<ConfigurationSetInfo | undefined>;
  eventDestinations(name: string): Promise<EventDestinationInfo[]>;
  close(): void;
}

export interface SesSetupOptions {
  region: string | undefined;
  endpoint: string | undefined;
}

export class SesSetup implements SesSetupReader {
  /** Made at the first request (see ses-sdk.ts). */
  private client: Promise<{ client: SESv2Client; sdk: SesSdk }> | undefined;

  constructor(private readonly options: SesSetupOptions) {}

  private connect(): Promise<{ client: SESv2Client; sdk: SesSdk }> {
    return (this.client ??= loadSesSdk().then(({ sdk, NodeHttpHandler }) => {
      const client = new sdk.SESv2Client({
        region: this.options.region ?? 'us-east-1',
        endpoint: this.options.endpoint,
        // Reads are safe to repeat, unlike SendEmail.
        maxAttempts: 3,
        requestHandler: new NodeHttpHandler({ connectionTimeout: 5_000, requestTimeout: 15_000, throwOnRequestTimeout: true }),
      });
      return { client, sdk };
    }));
  }

  async account(): Promise<SesAccountInfo> {
    const { client, sdk } = await this.connect();
    const out = await client.send(new sdk.GetAccountCommand({}));
    const q = out.SendQuota;
    return {
      sendingEnabled: out.SendingEnabled ?? true,
      enforcementStatus: out.EnforcementStatus,
      productionAccess: out.ProductionAccessEnabled ?? false,
      max24HourSend: q?.Max24HourSend ?? -1,
      sentLast24Hours: q?.SentLast24Hours ?? 0,
      maxSendRate: q?.MaxSendRate ?? 1,
      suppressedReasons: out.SuppressionAttributes?.SuppressedReasons ?? [],
    };
  }

  async identity(name: string): Promise<EmailIdentityInfo | undefined> {
    const { client, sdk } = await this.connect();
    try {
      const out = await client.send(new sdk.GetEmailIdentityCommand({ EmailIdentity: name }));
      const d = out.DkimAttributes;
      const m = out.MailFromAttributes;
      return {
        name,
        type: out.IdentityType,
        verifiedForSending: out.VerifiedForSendingStatus ?? false,
        verificationStatus: out.VerificationStatus,
        dkim: d ? { signingEnabled: d.SigningEnabled ?? false, status: d.Status, tokens: d.Tokens ?? [], origin: d.SigningAttributesOrigin } : undefined,
        mailFrom: m?.MailFromDomain ? { domain: m.MailFromDomain.toLowerCase(), status: m.MailFromDomainStatus } : undefined,
      };
    } catch (err) {
      if (describeAwsError(err).kind === 'not-found') return undefined;
      throw err;
    }
  }

  async configurationSet(name: string): Promise<ConfigurationSetInfo | undefined> {
    const { client, sdk } = await this.connect();
    try {
      const out = await client.send(new sdk.GetConfigurationSetCommand({ ConfigurationSetName: name }));
      return { name, sendingEnabled: out.SendingOptions?.SendingEnabled ?? true };
    } catch (err) {
      if (describeAwsError(err).kind === 'not-found') return undefined;
      throw err;
    }
  }

  async eventDestinations(name: string): Promise<EventDestinationInfo[]> {
    const { client, sdk } = await this.connect();
    const out = await client.send(new sdk.GetConfigurationSetEventDestinationsCommand({ ConfigurationSetName: name }));
    return (out.EventDestinations ?? []).map((d) => ({
      name: d.Name ?? '',
      enabled: d.Enabled ?? false,
      types: d.MatchingEventTypes ?? [],
      snsTopicArn: d.SnsDestination?.TopicArn,
    }));
  }

  close(): void {
    // A client still being made is closed once made; one never made has nothing to close.
    void this.client?.then(({ client }) => client.destroy(), () => {});
  }
}
