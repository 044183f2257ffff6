// Reads the Prometheus text format with a parser of its own (prom2javascript), as a scraper would,
// so the tests check what /metrics says rather than prom-client's objects.
import { getMetricsFromIterator, type PromHistogramData, type PromMetrics } from "prom2javascript";

export type Scrape = PromMetrics;

/**
 * NaN is a valid sample value (prom-client writes `Nan` for an event-loop gauge before its first
 * sample; Prometheus reads any case, https://prometheus.io/docs/instrumenting/exposition_formats/),
 * but prom2javascript reads only numbers and +Inf: NaN goes through as a number no metric here can
 * take, and is turned back into NaN after parsing.
 */
const NAN_STAND_IN = -1.2345678901234567e-300;
const NAN_VALUE = /\s(nan)(\s+-?\d+)?$/i;

export async function parseMetrics(text: string): Promise<Scrape> {
  const lines = text.split("\n").map((l) => (l.startsWith("#") ? l : l.replace(NAN_VALUE, (_m, _v, ts: string | undefined) => ` ${NAN_STAND_IN}${ts ?? ""}`)));
  const scrape = await getMetricsFromIterator(lines[Symbol.iterator]());
  for (const m of Object.values(scrape)) for (const d of m.data) if ("value" in d && d.value === NAN_STAND_IN) d.value = Number.NaN;
  return scrape;
}

function matches(labels: Record<string, string>, want: Record<string, string>): boolean {
  return Object.entries(want).every(([k, v]) => labels[k] === v);
}

/** The value of the one sample of `name` whose labels include `labels`; undefined when there is none. */
export function sample(scrape: Scrape, name: string, labels: Record<string, string> = {}): number | undefined {
  const found = (scrape[name]?.data ?? []).filter((d) => matches(d.labels, labels));
  if (found.length > 1) throw new Error(`${name}${JSON.stringify(labels)} matches ${found.length} samples`);
  const d = found[0];
  return d === undefined ? undefined : "value" in d ? d.value : undefined;
}

/** The histogram series of `name` whose labels include `labels`. */
export function histogram(scrape: Scrape, name: string, labels: Record<string, string>): PromHistogramData | undefined {
  const data = (scrape[name]?.data ?? []) as PromHistogramData[];
  return data.find((d) => "buckets" in d && matches(d.labels, labels));
}
