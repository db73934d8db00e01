// A module's counters for report(): plain number fields bumped in place by the module.

/** Extend with number fields (initialised to 0); snapshot() copies them for a report. */
export class Counters {
  snapshot(): Record<string, number> {
    const { ...plain } = this;
    return plain as unknown as Record<string, number>;
  }
}
