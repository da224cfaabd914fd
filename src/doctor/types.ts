export type CheckStatus = 'ok' | 'warn' | 'error';

/** One line of `marketer doctor`: `fix` is the exact thing to do ("" when there is nothing to do). */
export interface DoctorCheck {
  id: string;
  status: CheckStatus;
  detail: string;
  fix: string;
  /** Set on the per-domain checks. */
  domain?: string;
  /** Set on the configuration set checks. */
  configuration_set?: string;
}

export interface DoctorReport {
  ok: boolean;
  checks: DoctorCheck[];
}

export function worst(statuses: CheckStatus[]): CheckStatus {
  return statuses.includes('error') ? 'error' : statuses.includes('warn') ? 'warn' : 'ok';
}
