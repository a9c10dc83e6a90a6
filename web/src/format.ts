/** Dates and numbers in the visitor's own time zone and language. */
const zone = Intl.DateTimeFormat().resolvedOptions().timeZone;

export const visitorTimeZone = (): string => zone;

export function dateTime(iso: string | null | undefined): string {
  if (!iso) return '—';
  return new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' }).format(new Date(iso));
}

export function day(iso: string | null | undefined): string {
  if (!iso) return '—';
  return new Intl.DateTimeFormat(undefined, { weekday: 'long', day: 'numeric', month: 'long' }).format(new Date(iso));
}

export const percent = (ratio: number | null | undefined): string => (ratio === null || ratio === undefined ? '—' : `${(ratio * 100).toFixed(1)} %`);

export function hours(value: number | null | undefined): string {
  if (value === null || value === undefined) return '—';
  return value < 1 ? `${Math.round(value * 60)} min` : `${value.toFixed(1)} h`;
}

/** UPPER_SNAKE enum values as words: OUT_FOR_DELIVERY → Out for delivery. */
export const words = (value: string | null | undefined): string => (value ? value.charAt(0) + value.slice(1).toLowerCase().replace(/_/g, ' ') : '—');

export const shortHash = (hex: string | null | undefined): string => (hex ? `${hex.slice(0, 10)}…${hex.slice(-6)}` : '—');
