/** One message, fully rendered, ready for a transport. */
export interface OutgoingMessage {
  to: string;
  from: string;
  replyTo: string[];
  subject: string;
  html: string;
  text: string;
  /** Extra headers (List-Unsubscribe, List-Unsubscribe-Post). */
  headers: { name: string; value: string }[];
  /** SES EmailTags: campaign and delivery ids, echoed back in every event. */
  tags: { name: string; value: string }[];
  listManagement: { contactListName: string; topicName: string } | undefined;
  /** The ledger row; transports that keep files name them by it. */
  deliveryId: string;
  campaignId: number;
  /** Transactional mail goes through its own configuration set where one is configured. */
  transactional?: boolean;
}

/**
 * What became of one send attempt. The split matters because SES has no idempotency key:
 * - sent: accepted, with its message id.
 * - retry: proven not accepted (throttled, 5xx, connection refused); safe to send again.
 * - failed: refused for good (bad address, rejected content).
 * - unknown: the request may have been accepted (timeout, reset); never resent automatically.
 * - fatal: the account cannot send at all (paused, suspended); stop the run.
 */
export type SendOutcome =
  | { kind: 'sent'; messageId: string }
  | { kind: 'retry'; error: string; throttled: boolean }
  | { kind: 'failed'; error: string }
  | { kind: 'unknown'; error: string }
  | { kind: 'fatal'; error: string };

export interface SendQuota {
  /** -1 means unlimited. */
  max24HourSend: number;
  sentLast24Hours: number;
  maxSendRate: number;
  productionAccess: boolean;
  sendingEnabled: boolean;
  /** HEALTHY, PROBATION or SHUTDOWN, where SES says. */
  enforcementStatus?: string | undefined;
}

/** The transport port. Implementations never throw for a send; they classify. */
export interface Mailer {
  readonly name: string;
  send(message: OutgoingMessage): Promise<SendOutcome>;
  /** The account's quota, where the transport has one. */
  quota(): Promise<SendQuota | undefined>;
  close(): Promise<void>;
}
