// Deploy windows (`apps.<name>.window`): when polling may switch an app to a new release, in the
// host's local time. Parsed once at config load; isOpen and nextOpening are pure, so the rules are
// unit-tested with fixed dates (an overnight window, a daylight-saving change).

/** One entry: the days it starts on (0 = Sunday, as Date.getDay), and minutes after local midnight. */
export interface DeployWindow {
  /** The entry as written, for messages. */
  text: string;
  days: readonly number[];
  startMin: number;
  /** 1440 for "24:00". An end at or before the start runs past midnight into the next day. */
  endMin: number;
}

const DAY_NAMES = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"] as const;
const EXPECTED_DAYS = "expected Mon, Tue, Wed, Thu, Fri, Sat or Sun";
const ENTRY_RE = /^(?:(\S+)\s+)?(\d{2}:\d{2})-(\d{2}:\d{2})$/;

/** `"Mon-Fri 02:00-05:00"` → a window; throws a message (without the key path) when malformed. */
export function parseWindow(text: string): DeployWindow {
  const m = ENTRY_RE.exec(text.trim());
  if (!m) throw new Error(`"${text}": expected "<days> HH:MM-HH:MM" such as "Mon-Fri 02:00-05:00" or "Sat,Sun 00:00-24:00" (days may be left out for every day)`);
  const days = m[1] === undefined ? [0, 1, 2, 3, 4, 5, 6] : [...parseDays(text, m[1])].sort();
  const startMin = parseTime(text, m[2]!, false);
  const endMin = parseTime(text, m[3]!, true);
  if (startMin === endMin) throw new Error(`"${text}": the window starts and ends at the same time; write 00:00-24:00 for a whole day`);
  return { text, days, startMin, endMin };
}

function parseDays(text: string, spec: string): Set<number> {
  const days = new Set<number>();
  for (const part of spec.split(",")) {
    const [from, to, ...rest] = part.split("-");
    if (rest.length > 0 || from === undefined || from === "") throw new Error(`"${text}": "${part}" is not a day or a range of days such as Mon-Fri`);
    const a = dayIndex(text, from);
    const b = to === undefined ? a : dayIndex(text, to);
    // A range wraps past Sunday: Fri-Mon is Fri, Sat, Sun, Mon.
    for (let d = a; ; d = (d + 1) % 7) {
      days.add(d);
      if (d === b) break;
    }
  }
  return days;
}

function dayIndex(text: string, name: string): number {
  const i = DAY_NAMES.findIndex((d) => d.toLowerCase() === name.toLowerCase());
  if (i < 0) throw new Error(`"${text}": unknown day "${name}" (${EXPECTED_DAYS})`);
  return i;
}

function parseTime(text: string, hhmm: string, isEnd: boolean): number {
  const [h, m] = hhmm.split(":").map(Number) as [number, number];
  if (isEnd && h === 24 && m === 0) return 1440;
  if (h > 23 || m > 59) throw new Error(`"${text}": "${hhmm}" is not a time of day (00:00 to 23:59${isEnd ? ", or 24:00 as an end" : ""})`);
  return h * 60 + m;
}

function minuteOfDay(d: Date): number {
  return d.getHours() * 60 + d.getMinutes();
}

/** Whether `date` (read in the host's local time) falls inside one of the windows. */
export function isOpen(windows: readonly DeployWindow[], date: Date): boolean {
  const day = date.getDay();
  const min = minuteOfDay(date);
  const yesterday = (day + 6) % 7;
  return windows.some((w) =>
    w.startMin < w.endMin
      ? w.days.includes(day) && min >= w.startMin && min < w.endMin
      : (w.days.includes(day) && min >= w.startMin) || (w.days.includes(yesterday) && min < w.endMin),
  );
}

/**
 * The first moment at or after `date` that a window is open: `date` itself when one is open now.
 * Openings are built with local calendar fields, so a daylight-saving change moves them as the
 * wall clock does (an opening in the skipped hour comes at the first minute after it).
 */
export function nextOpening(windows: readonly DeployWindow[], date: Date): Date | undefined {
  if (windows.length === 0) return undefined;
  if (isOpen(windows, date)) return date;
  let best: Date | undefined;
  for (let offset = 0; offset <= 7; offset++) {
    const day = new Date(date.getFullYear(), date.getMonth(), date.getDate() + offset);
    for (const w of windows) {
      if (!w.days.includes(day.getDay())) continue;
      const at = new Date(day.getFullYear(), day.getMonth(), day.getDate(), Math.floor(w.startMin / 60), w.startMin % 60);
      if (at.getTime() > date.getTime() && (best === undefined || at < best)) best = at;
    }
    if (best) return best;
  }
  return best;
}
