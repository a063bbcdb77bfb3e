import type { Cloud } from '../../src/generated/graphql';
import { idAt, type Random } from './random';

export const CLOUDS: Cloud[] = ['SALESFORCE', 'SERVICENOW', 'M365'];
const CLOUD_LABEL: Record<Cloud, string> = { SALESFORCE: 'Salesforce', SERVICENOW: 'ServiceNow', M365: 'M365' };
const ENVIRONMENTS = ['prod', 'staging', 'dev', 'uat', 'sandbox', 'eu', 'us', 'apac'];
const CHANNELS = ['IDE', 'CI', 'CLI', 'Integration', 'Scheduler', 'Data loader'];
const TEAM_WORDS = [
  'Platform', 'Payments', 'Billing', 'Growth', 'Identity', 'Search', 'Mobile', 'Web', 'Data', 'Analytics',
  'Security', 'Support', 'Sales Ops', 'Marketing', 'Finance', 'HR Systems', 'Integrations', 'Core', 'Edge', 'Infra',
  'Reliability', 'Onboarding', 'Checkout', 'Catalog', 'Logistics', 'Partners', 'Compliance', 'Risk', 'Messaging', 'Notifications',
];
const FIRST = ['Alice', 'Bob', 'Carol', 'Dan', 'Erin', 'Frank', 'Grace', 'Heidi', 'Ivan', 'Judy', 'Mallory', 'Niaj', 'Olivia', 'Peggy', 'Rupert', 'Sybil', 'Trent', 'Uma', 'Victor', 'Wendy', 'Xavier', 'Yara', 'Zoe', 'Amir', 'Bea', 'Chen', 'Dmitri', 'Eva', 'Femi', 'Gita'];
const LAST = ['Smith', 'Jones', 'Garcia', 'Müller', 'Rossi', 'Nguyen', 'Kim', 'Okafor', 'Silva', 'Kowalski', 'Dubois', 'Tanaka', 'Haddad', 'Novak', 'Larsen', 'Ivanova', 'Costa', 'Moreau', 'Singh', 'Brown'];
/** Words key names are made of; `search` in the benchmark looks for one of them. */
export const PURPOSES = ['deploy', 'sync', 'backup', 'etl', 'monitor', 'release', 'migrate', 'report', 'import', 'export', 'test', 'lint', 'build', 'audit', 'alert'];
export const SYSTEMS = ['billing', 'crm', 'ledger', 'portal', 'inventory', 'orders', 'tickets', 'warehouse', 'payroll', 'catalog', 'gateway', 'search', 'mailer', 'reports', 'scheduler', 'assets', 'leads', 'quotes', 'cases', 'knowledge'];

export interface AccountPlan {
  id: string;
  keys: number;
  instances: number;
  teams: number;
  developers: number;
}

export interface Named { id: string; name: string }
export interface InstancePlan extends Named { cloud: Cloud; url: string; channelIds: string[]; developerIds: string[] }

export interface AccountCatalog {
  account: AccountPlan;
  channels: Named[];
  instances: InstancePlan[];
  teams: Named[];
  developers: Named[];
  /** Every developer-instance link (each developer works in 1 to 3 instances). */
  links: { developerId: string; instanceId: string }[];
}

/**
 * Splits `keys` over `accounts`: the first account holds `bigKeys` (capped so every other account
 * has at least one), the rest follow a Zipf law, as tenants of a SaaS do.
 */
export function planAccounts(opts: { accounts: number; keys: number; teams: number; bigKeys: number; prefix: string }): AccountPlan[] {
  const { accounts, keys } = opts;
  const big = accounts === 1 ? keys : Math.max(1, Math.min(opts.bigKeys, keys - (accounts - 1)));
  const rest = keys - big;
  // flat enough that the big account stays the biggest (the next one holds about half of it at the defaults)
  const weights = Array.from({ length: accounts - 1 }, (_, i) => 1 / (i + 1) ** 0.6);
  const sum = weights.reduce((a, b) => a + b, 0);
  const counts = [big, ...weights.map((w) => Math.max(1, Math.floor((rest * w) / sum)))];
  // hand out what rounding left over (or take back what the minimum of one added)
  let diff = keys - counts.reduce((a, b) => a + b, 0);
  for (let i = 1; diff !== 0 && accounts > 1; i = i + 1 < accounts ? i + 1 : 1) {
    if (diff > 0) { counts[i]++; diff--; } else if (counts[i] > 1) { counts[i]--; diff++; }
  }
  const width = Math.max(3, String(accounts - 1).length);
  return counts.map((n, i) => ({
    id: `${opts.prefix}-${String(i).padStart(width, '0')}`,
    keys: n,
    instances: Math.max(3, Math.min(300, Math.round(n / 500))),
    teams: Math.max(3, Math.round((opts.teams * n) / keys)),
    developers: Math.max(3, Math.round(n / 25)),
  }));
}

function uniqueName(words: readonly string[], i: number): string {
  return i < words.length ? words[i] : `${words[i % words.length]} ${Math.floor(i / words.length) + 1}`;
}

/** Channels, instances of all three clouds, teams and developers of one account. */
export function buildCatalog(account: AccountPlan, random: Random, createdAtMs: number): AccountCatalog {
  const at = () => createdAtMs + random.int(86_400_000);
  const channelCount = 4 + random.int(CHANNELS.length - 3);
  const channels = CHANNELS.slice(0, channelCount).map((name) => ({ id: idAt('Channel', at()), name }));
  const instances: InstancePlan[] = Array.from({ length: account.instances }, (_, i) => {
    const cloud = CLOUDS[i % CLOUDS.length];
    const env = ENVIRONMENTS[Math.floor(i / CLOUDS.length) % ENVIRONMENTS.length];
    const n = Math.floor(i / (CLOUDS.length * ENVIRONMENTS.length));
    const name = `${CLOUD_LABEL[cloud]} ${env}${n ? ` ${n + 1}` : ''}`;
    // IDE and CI everywhere, and a few more
    const available = channels.filter((_c, j) => j < 2 || random.next() < 0.5);
    return {
      id: idAt('Instance', at()), name, cloud, url: `https://${name.toLowerCase().replace(/\s+/g, '-')}.${account.id}.example.com`,
      channelIds: available.map((c) => c.id), developerIds: [],
    };
  });
  const teams = Array.from({ length: account.teams }, (_, i) => ({ id: idAt('Team', at()), name: uniqueName(TEAM_WORDS, i) }));
  const developers = Array.from({ length: account.developers }, (_, i) => {
    const first = FIRST[i % FIRST.length];
    const last = LAST[Math.floor(i / FIRST.length) % LAST.length];
    const round = Math.floor(i / (FIRST.length * LAST.length));
    return { id: idAt('Developer', at()), name: `${first} ${last}${round ? ` ${round + 1}` : ''}` };
  });
  const links: AccountCatalog['links'] = [];
  developers.forEach((d, i) => {
    const chosen = new Set<number>([i % instances.length]);
    const extra = random.int(3);
    for (let k = 0; k < extra; k++) chosen.add(random.skewed(instances.length));
    for (const j of chosen) {
      instances[j].developerIds.push(d.id);
      links.push({ developerId: d.id, instanceId: instances[j].id });
    }
  });
  return { account, channels, instances, teams, developers, links };
}
