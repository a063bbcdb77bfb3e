export interface Term { kind: string; term: string; count: number }

/**
 * Search terms of one length: one matching no name, one a few, one about 6 % and one most names.
 * Terms are substrings of the names (letters, digits and spaces only: no LIKE wildcards).
 */
export function pickTerms(names: string[], length: number): Term[] {
  const counts = new Map<string, number>();
  for (const name of names) {
    const seen = new Set<string>();
    for (let i = 0; i + length <= name.length; i++) {
      const s = name.slice(i, i + length);
      if (/^[a-z0-9][a-z0-9 ]*$/.test(s) && !s.endsWith(' ')) seen.add(s);
    }
    for (const s of seen) counts.set(s, (counts.get(s) ?? 0) + 1);
  }
  const all = [...counts.entries()].sort((x, y) => (x[0] < y[0] ? -1 : 1));
  if (!all.length) throw new Error(`no name has ${length} characters`);
  const closest = (target: number, among = all) => among.reduce((best, e) => (Math.abs(e[1] - target) < Math.abs(best[1] - target) ? e : best));
  let none = '';
  for (const c of 'qzxjvkwyfgbpmh'.repeat(6)) {
    const candidate = (none + c).slice(-length).padStart(length, 'q');
    if (!counts.has(candidate) && !names.some((n) => n.includes(candidate))) { none = candidate; break; }
    none += c;
  }
  if (none.length !== length) none = '#'.repeat(length);
  const few = closest(5, all.filter((e) => e[1] <= 20).length ? all.filter((e) => e[1] <= 20) : all);
  const six = closest(0.06 * names.length);
  const most = all.reduce((best, e) => (e[1] > best[1] ? e : best));
  return [
    { kind: 'none', term: none, count: 0 }, { kind: 'a few', term: few[0], count: few[1] },
    { kind: '~6 %', term: six[0], count: six[1] }, { kind: 'most', term: most[0], count: most[1] },
  ];
}
