/**
 * The admin console at /console in a real browser (Debian's chromium, driven by playwright-core)
 * against a real server: every flow of the API Keys tab as a user goes through it, each saving a
 * screenshot in test-results/. Controls are found by their role and accessible name, so a control
 * without a label fails the test. Skipped only when /usr/bin/chromium is missing outside CI.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Browser, BrowserContext, Locator, Page } from 'playwright-core';
import { ensureBuilt } from '../helpers/bundles';
import { describeWithChromium, launchChromium } from '../helpers/chromium';
import { verifyAt } from '../helpers/child-server';
import { seedAccount, type SeededAccount } from '../helpers/factories';
import { startTestServer, type TestServer } from '../helpers/server';

const RESULTS = path.resolve(__dirname, '../../test-results');
const describeBrowser = describeWithChromium(__filename);

jest.setTimeout(120_000);

describeBrowser('the admin console in chromium', () => {
  let server: TestServer;
  let browser: Browser;
  let acme: SeededAccount;
  const contexts: BrowserContext[] = [];
  const problems: string[] = [];

  beforeAll(async () => {
    await ensureBuilt('console');
    server = await startTestServer();
    acme = await seedAccount(server, 'acme');
    // 55 keys of Alice on the IDE channel, and 2 of Build Bot on CI in team Platform
    for (let i = 1; i <= 55; i++) await acme.createKey({ name: `svc ${String(i).padStart(2, '0')}` });
    for (const name of ['deploy bot A', 'deploy bot B']) {
      await acme.createKey({ name, channelId: acme.channels.ci.id, developer: { name: 'Build Bot' }, newTeamNames: ['Platform'] });
    }
    browser = await launchChromium();
    fs.mkdirSync(RESULTS, { recursive: true });
  }, 180_000);

  afterAll(async () => {
    for (const context of contexts) await context.close();
    await browser?.close();
    await server?.stop();
  });

  afterEach(() => {
    // no script error, no request refused by the page's Content-Security-Policy, in any flow
    expect(problems.splice(0)).toEqual([]);
  });

  /** A page of a fresh browser context (its own session storage), optionally signed in with `token`. */
  async function openConsole(token: string | null, query = ''): Promise<Page> {
    const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
    contexts.push(context);
    await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: server.baseUrl });
    if (token) await context.addInitScript((t: string) => sessionStorage.setItem('qckeys-console-token', t), token);
    const page = await context.newPage();
    page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
    page.on('console', (message) => {
      if (message.type() === 'error' && /Content Security Policy|Refused to/i.test(message.text())) problems.push(`console: ${message.text()}`);
    });
    const response = await page.goto(`${server.baseUrl}/console${query}`);
    expect(response?.status()).toBe(200);
    return page;
  }

  const range = (page: Page) => page.locator('.range');
  async function waitForRange(page: Page, text: string | RegExp) {
    try {
      await range(page).filter({ hasText: text }).waitFor({ timeout: 20_000 });
    } catch (err) {
      await page.screenshot({ path: path.join(RESULTS, 'console-failure.png'), fullPage: true });
      throw new Error(`waiting for "${String(text)}", the page shows "${await range(page).textContent()}" at ${page.url()} (test-results/console-failure.png)`, { cause: err });
    }
  }
  const row = (page: Page, name: string) => page.getByRole('row').filter({ has: page.getByText(name, { exact: true }) });
  const shot = (page: Page, name: string) => page.screenshot({ path: path.join(RESULTS, `console-${name}.png`), fullPage: true });
  async function notice(page: Page, text: string | RegExp) {
    await page.locator('p.notice[role="status"]').filter({ hasText: text }).waitFor({ timeout: 20_000 });
  }
  async function textOf(locator: Locator) {
    return ((await locator.textContent()) ?? '').replace(/\s+/g, ' ').trim();
  }
  const keyOf = async (account: SeededAccount, id: string) => (await server.ok<{ apiKey: { name: string; status: string; revocationReason: string | null; version: number; teams: { name: string }[] } | null }>(
    account.admin, 'query($id: ID!) { apiKey(id: $id) { name status revocationReason version teams { name } } }', { id })).apiKey;
  const idOf = async (account: SeededAccount, name: string) => (await server.ok<{ apiKeys: { edges: { node: { id: string } }[] } }>(
    account.admin, 'query($s: String) { apiKeys(filter: { search: $s }, first: 5) { edges { node { id } } } }', { s: name })).apiKeys.edges[0]!.node.id;

  test('a pasted token opens the console; a viewer sees the keys and no write action', async () => {
    const page = await openConsole(null);
    const tokenField = page.getByLabel('Bearer token');
    await tokenField.waitFor();
    await shot(page, 'token');
    await tokenField.fill(`Bearer ${acme.viewer}`);
    await page.getByRole('button', { name: 'Open the console' }).click();
    await waitForRange(page, '1–50 of 57');
    expect(await textOf(page.locator('.who'))).toBe('acme-viewer · acme · read only');
    for (const name of ['Add API key', /^Edit /, /^Renew /, /^Revoke /, /^Delete /, 'Manage Teams']) {
      expect(await page.getByRole('button', { name }).count()).toBe(0);
    }
    expect(await page.getByRole('checkbox', { name: /^Select / }).count()).toBe(0);
    expect(await page.getByRole('button', { name: /^History of / }).count()).toBe(50);
    await shot(page, 'viewer');

    // a verifier may not list keys: the console says so, and shows no key
    const verifier = await openConsole(acme.verifier);
    await verifier.getByRole('alert').filter({ hasText: 'role does not allow' }).first().waitFor();
    expect(await verifier.locator('tbody tr').count()).toBe(0);
    expect(await verifier.getByRole('button', { name: 'Add API key' }).count()).toBe(0);

    // a wrong token brings the form back, saying why
    await page.getByRole('button', { name: 'Change token' }).click();
    await page.getByLabel('Bearer token').fill('not-a-token');
    await page.getByRole('button', { name: 'Open the console' }).click();
    await page.getByRole('alert').filter({ hasText: 'missing, invalid or expired' }).waitFor();
  });

  test('the table: columns, "1–50 of N", paging both ways, sorting, filters with counts kept in the URL', async () => {
    const page = await openConsole(acme.admin);
    await waitForRange(page, '1–50 of 57');
    const headers = await page.getByRole('columnheader').allTextContents();
    expect(headers.map((h) => h.replace(/[▲▼]/g, '').trim()).filter(Boolean))
      .toEqual(['Name', 'Teams', 'Developer', 'Channel', 'Instance', 'Expiration Date', 'Actions']);
    expect(await page.locator('tbody tr').count()).toBe(50);

    await page.getByRole('button', { name: 'Next page' }).click();
    await waitForRange(page, '51–57 of 57');
    expect(await page.locator('tbody tr').count()).toBe(7);
    expect(page.url()).toContain('after=');
    await page.getByRole('button', { name: 'Previous page' }).click();
    await waitForRange(page, '1–50 of 57');

    // sorting by the Name header, then the other way
    await page.getByRole('button', { name: 'Name', exact: true }).click();
    await page.locator('tbody tr').first().filter({ hasText: 'deploy bot A' }).waitFor();
    expect(new URL(page.url()).searchParams.get('sort')).toBe('NAME:ASC');
    await page.getByRole('button', { name: /^Name/ }).click();
    await page.locator('tbody tr').first().filter({ hasText: 'svc 55' }).waitFor();

    // a facet: its count beside it, then the list and the other counts follow the choice
    const platform = page.getByRole('checkbox', { name: 'Platform (2)' });
    await platform.check();
    await waitForRange(page, '1–2 of 2');
    await page.getByRole('checkbox', { name: 'Build Bot (2)' }).waitFor();
    await page.getByLabel('Search names').fill('bot a');
    await waitForRange(page, '1–1 of 1');
    await shot(page, 'filters');

    // the URL holds the filter: a reload (or a shared link) shows the same list
    const url = new URL(page.url());
    expect(url.searchParams.get('q')).toBe('bot a');
    expect(url.searchParams.getAll('team')).toHaveLength(1);
    await page.reload();
    await waitForRange(page, '1–1 of 1');
    expect(await page.getByRole('checkbox', { name: /^Platform/ }).isChecked()).toBe(true);
    expect(await page.getByLabel('Search names').inputValue()).toBe('bot a');

    // back in history: the previous filter
    await page.goBack();
    await waitForRange(page, '1–2 of 2');
    await page.getByRole('button', { name: 'Clear filters' }).click();
    await waitForRange(page, 'of 57');

    // a filter that matches nothing says so, and how to get back
    await page.getByLabel('Search names').fill('zzz-nothing');
    await page.getByText('No key matches these filters.').waitFor();
    await page.getByRole('button', { name: 'Clear the filters' }).click();
    await waitForRange(page, 'of 57');
  });

  test('Add: cloud, instance, channel, a developer of the instance or a new name, teams, expiry; the secret shown once with Copy', async () => {
    const page = await openConsole(acme.admin);
    await waitForRange(page, 'of 57');
    await page.getByRole('button', { name: 'Add API key' }).click();
    const dialog = page.getByRole('dialog', { name: 'Add API key' });
    await dialog.waitFor();
    // each step opens once the one before is chosen
    expect(await dialog.getByLabel('Instance').isDisabled()).toBe(true);
    await dialog.getByLabel('Cloud').selectOption('SALESFORCE');
    await dialog.getByLabel('Instance').locator('option', { hasText: 'Prod org' }).waitFor({ state: 'attached' });
    expect(await dialog.getByLabel('Instance').locator('option').allTextContents()).toEqual(['Choose an instance…', 'Prod org']);
    await dialog.getByLabel('Instance').selectOption({ label: 'Prod org' });
    expect(await dialog.getByLabel('Channel').locator('option').allTextContents()).toEqual(['Choose a channel…', 'CI', 'IDE']);
    await dialog.getByLabel('Channel').selectOption({ label: 'CI' });
    // the instance's developers are offered
    await dialog.locator('datalist option[value="Build Bot"]').waitFor({ state: 'attached' });
    await dialog.getByLabel('Developer').fill('Nadia New');
    await dialog.getByText('“Nadia New” is new').waitFor();
    await dialog.getByLabel('Key name').fill('nadia laptop');
    await dialog.getByRole('checkbox', { name: 'Platform' }).check();
    await dialog.getByLabel('New teams').fill('Mobile, Web');
    await dialog.getByLabel('Expiration date').fill('2027-06-30');
    await shot(page, 'add');
    await dialog.getByRole('button', { name: 'Add API key' }).click();

    const secretDialog = page.getByRole('dialog', { name: 'API key added' });
    await secretDialog.waitFor();
    const secret = await secretDialog.getByLabel('Secret').inputValue();
    expect(secret).toMatch(/^qck_/);
    await secretDialog.getByRole('button', { name: 'Copy' }).click();
    await secretDialog.getByText('Copied to the clipboard.').waitFor();
    expect(await page.evaluate(() => (globalThis as unknown as { navigator: { clipboard: { readText(): Promise<string> } } }).navigator.clipboard.readText())).toBe(secret);
    await shot(page, 'secret');
    await secretDialog.getByRole('button', { name: 'Done' }).click();
    await notice(page, 'Added nadia laptop.');
    await waitForRange(page, 'of 58');

    // what the API now holds: the key, as entered, and its secret verifies
    const id = await idOf(acme, 'nadia laptop');
    const created = await server.ok<{ apiKey: { channel: { name: string }; developer: { name: string }; expiresAt: string; teams: { name: string }[] } }>(acme.admin,
      'query($id: ID!) { apiKey(id: $id) { channel { name } developer { name } expiresAt teams { name } } }', { id });
    expect(created.apiKey).toMatchObject({ channel: { name: 'CI' }, developer: { name: 'Nadia New' }, expiresAt: '2027-06-30T23:59:59.000Z' });
    expect(created.apiKey.teams.map((t) => t.name).sort()).toEqual(['Mobile', 'Platform', 'Web']);
    expect(await verifyAt(server.baseUrl, acme.verifier, secret)).toMatchObject({ valid: true, keyId: id });
    // the secret left the page with the dialog
    expect(await page.content()).not.toContain(secret);
  });

  test('Edit saves the change; when someone else changed the key meanwhile it says so and offers their version', async () => {
    const key = await acme.createKey({ name: 'edit me' });
    const page = await openConsole(acme.admin, '?q=edit+me');
    await waitForRange(page, '1–1 of 1');
    await page.getByRole('button', { name: 'Edit edit me' }).click();
    const dialog = page.getByRole('dialog', { name: 'Edit edit me' });
    await dialog.getByLabel('Key name').fill('edit me renamed');

    // another admin changes the key first
    await server.ok(acme.admin, 'mutation($id: ID!) { updateApiKey(input: { id: $id, expiresAt: "2027-01-31T00:00:00Z" }) { apiKey { id } } }', { id: key.id });
    await dialog.getByRole('button', { name: 'Save' }).click();
    await dialog.getByRole('alert').filter({ hasText: 'Someone else changed this key' }).waitFor();
    await shot(page, 'edit-conflict');
    expect((await keyOf(acme, key.id))?.name).toBe('edit me');

    await dialog.getByRole('button', { name: 'Load their version' }).click();
    for (let tries = 0; (await dialog.getByLabel('Expiration date').inputValue()) !== '2027-01-31' && tries < 100; tries++) await page.waitForTimeout(100);
    expect(await dialog.getByLabel('Expiration date').inputValue()).toBe('2027-01-31');
    await dialog.getByLabel('Key name').fill('edit me renamed');
    await dialog.getByRole('button', { name: 'Save' }).click();
    await notice(page, 'Saved edit me renamed.');
    expect(await keyOf(acme, key.id)).toMatchObject({ name: 'edit me renamed', version: 3 });
  });

  test('multi-select: Manage Teams on checked rows, then all matching but one revoked with a reason, then deleted', async () => {
    const bulk = await seedAccount(server, 'bulk');
    for (let i = 1; i <= 53; i++) await bulk.createKey({ name: `batch ${String(i).padStart(2, '0')}` });
    await bulk.createKey({ name: 'keep me' });
    const page = await openConsole(bulk.admin, '?sort=NAME%3AASC');
    await waitForRange(page, '1–50 of 54');

    // two rows, Manage Teams with a new team
    await page.getByRole('checkbox', { name: 'Select batch 01' }).check();
    await page.getByRole('checkbox', { name: 'Select batch 02' }).check();
    const actions = page.getByRole('region', { name: 'Actions on selected rows' });
    await actions.getByText('2 selected').waitFor();
    await actions.getByRole('button', { name: 'Manage Teams' }).click();
    const teams = page.getByRole('dialog', { name: 'Manage the teams of 2 keys' });
    await teams.getByLabel('New teams').fill('Bulk Team');
    await shot(page, 'manage-teams');
    await teams.getByRole('button', { name: 'Apply to 2 keys' }).click();
    await notice(page, 'Changed the teams of 2 key(s).');
    await row(page, 'batch 01').filter({ hasText: 'Bulk Team' }).waitFor();
    expect((await keyOf(bulk, await idOf(bulk, 'batch 02')))?.teams).toEqual([{ name: 'Bulk Team' }]);

    // "select all matching" needs the page checked first, then one row is taken out
    await page.getByLabel('Search names').fill('a');
    await waitForRange(page, '1–50 of 53');
    await page.getByRole('checkbox', { name: 'Select all keys on this page' }).check();
    await actions.getByRole('button', { name: 'Select all 53 matching' }).click();
    await actions.getByText('53 selected').waitFor();
    await page.getByRole('checkbox', { name: 'Select batch 07' }).uncheck();
    await actions.getByText('52 selected').waitFor();
    await actions.getByRole('button', { name: 'Revoke selected' }).click();
    const revoke = page.getByRole('dialog', { name: 'Revoke 52 keys?' });
    await revoke.getByLabel('Reason').fill('offboarding');
    await shot(page, 'revoke-selected');
    await revoke.getByRole('button', { name: 'Revoke 52 keys' }).click();
    await notice(page, 'Revoked 52 key(s).');
    expect(await keyOf(bulk, await idOf(bulk, 'batch 53'))).toMatchObject({ status: 'REVOKED', revocationReason: 'offboarding' });
    expect(await keyOf(bulk, await idOf(bulk, 'batch 07'))).toMatchObject({ status: 'ACTIVE' });
    expect(await keyOf(bulk, await idOf(bulk, 'keep me'))).toMatchObject({ status: 'ACTIVE' });

    // the revoked ones, all matching, deleted
    await page.getByRole('checkbox', { name: 'Revoked (52)' }).check();
    await waitForRange(page, '1–50 of 52');
    await page.getByRole('checkbox', { name: 'Select all keys on this page' }).check();
    await actions.getByRole('button', { name: 'Select all 52 matching' }).click();
    await actions.getByRole('button', { name: 'Delete selected' }).click();
    await page.getByRole('dialog', { name: 'Delete 52 keys?' }).getByRole('button', { name: 'Delete 52 keys' }).click();
    await notice(page, 'Deleted 52 key(s).');
    await page.getByText('No key matches these filters.').waitFor();
    const left = await server.ok<{ apiKeys: { totalCount: number } }>(bulk.admin, '{ apiKeys { totalCount } }');
    expect(left.apiKeys.totalCount).toBe(2);
    await shot(page, 'deleted-selected');
  });

  test('Renew with a grace period shows the new secret once; Revoke takes a reason; Delete is confirmed', async () => {
    const key = await acme.createKey({ name: 'renew me' });
    const page = await openConsole(acme.admin, '?q=renew+me');
    await waitForRange(page, '1–1 of 1');
    await page.getByRole('button', { name: 'Renew renew me' }).click();
    const renew = page.getByRole('dialog', { name: 'Renew renew me?' });
    await renew.getByLabel('Grace period').selectOption({ label: '1 hour' });
    await shot(page, 'renew');
    await renew.getByRole('button', { name: 'Renew' }).click();
    const secretDialog = page.getByRole('dialog', { name: 'API key renewed' });
    const secret = await secretDialog.getByLabel('Secret').inputValue();
    expect(secret).not.toBe(key.secret);
    await secretDialog.getByRole('button', { name: 'Done' }).click();
    await notice(page, 'Renewed renew me.');
    // the new secret verifies, and the old one still does during the grace period
    expect((await verifyAt(server.baseUrl, acme.verifier, secret)).valid).toBe(true);
    expect((await verifyAt(server.baseUrl, acme.verifier, key.secret)).valid).toBe(true);

    await page.getByRole('button', { name: 'Revoke renew me' }).click();
    const revoke = page.getByRole('dialog', { name: 'Revoke renew me?' });
    await revoke.getByLabel('Reason').fill('laptop lost');
    await revoke.getByRole('button', { name: 'Revoke' }).click();
    await notice(page, 'Revoked renew me.');
    expect(await keyOf(acme, key.id)).toMatchObject({ status: 'REVOKED', revocationReason: 'laptop lost' });
    expect((await verifyAt(server.baseUrl, acme.verifier, secret)).code).toBe('REVOKED');
    // a revoked key offers neither renew nor revoke
    await row(page, 'renew me').filter({ hasText: 'Revoked' }).waitFor();
    expect(await page.getByRole('button', { name: 'Renew renew me' }).count()).toBe(0);

    await page.getByRole('button', { name: 'Delete renew me' }).click();
    const remove = page.getByRole('dialog', { name: 'Delete renew me?' });
    await shot(page, 'delete');
    await remove.getByRole('button', { name: 'Delete' }).click();
    await notice(page, 'Deleted renew me.');
    expect(await keyOf(acme, key.id)).toBeNull();
  });

  test('history of a key with names beside IDs, and the account\'s audit trail', async () => {
    const key = await acme.createKey({ name: 'history key' });
    await server.ok(acme.admin, 'mutation($id: ID!, $c: ID!) { updateApiKey(input: { id: $id, channelId: $c, name: "history key 2" }) { apiKey { id } } }',
      { id: key.id, c: acme.channels.ci.id });
    const page = await openConsole(acme.admin, '?q=history+key');
    await waitForRange(page, '1–1 of 1');
    await page.getByRole('button', { name: 'History of history key 2' }).click();
    const dialog = page.getByRole('dialog', { name: 'History of history key 2' });
    const updated = dialog.getByRole('row').filter({ hasText: 'UPDATED' });
    await updated.waitFor();
    const text = await textOf(updated);
    expect(text).toContain('channel: IDE → CI');
    expect(text).toContain('name: history key → history key 2');
    expect(text).not.toContain('channelId');
    expect(text).toContain('acme-admin');
    await dialog.getByRole('row').filter({ hasText: 'CREATED' }).waitFor();
    await shot(page, 'history');
    await dialog.getByRole('button', { name: 'Close' }).first().click();

    await page.getByRole('link', { name: 'Audit trail' }).click();
    const audit = page.getByRole('region', { name: 'Audit trail' });
    await audit.getByRole('row').filter({ hasText: 'history key 2' }).first().waitFor();
    type Events = { apiKeyEvents: { totalCount: number } };
    const updates = await server.ok<Events>(acme.viewer, '{ apiKeyEvents(filter: { types: [UPDATED] }, first: 1) { totalCount } }');
    const all = await server.ok<Events>(acme.viewer, '{ apiKeyEvents(first: 1) { totalCount } }');
    expect(all.apiKeyEvents.totalCount).toBeGreaterThan(updates.apiKeyEvents.totalCount);
    await audit.getByLabel('Event').selectOption('UPDATED');
    // the rows read below are the filtered page once the status counts the filtered events
    await audit.locator('.toolbar [role="status"]').filter({ hasText: new RegExp(`^${updates.apiKeyEvents.totalCount.toLocaleString('en-US')} events$`) }).waitFor();
    const types = (await audit.locator('tbody tr td:nth-child(3)').allTextContents());
    expect(new Set(types)).toEqual(new Set(['UPDATED']));
    expect(new URL(page.url()).searchParams.get('tab')).toBe('audit');
    await shot(page, 'audit');
  });

  test('developers: deactivation lists the keys that must be revoked first and revokes them with it', async () => {
    const devs = await seedAccount(server, 'devs');
    const held = [await devs.createKey({ name: 'carol ide', developer: { name: 'Carol' } }), await devs.createKey({ name: 'carol ci', developer: { name: 'Carol' } })];
    await devs.createKey({ name: 'dan ide', developer: { name: 'Dan' } });
    const page = await openConsole(devs.admin, '?tab=developers');
    await page.getByRole('button', { name: 'Deactivate Carol' }).click();
    const dialog = page.getByRole('dialog', { name: 'Deactivate Carol?' });
    await dialog.getByRole('alert').filter({ hasText: 'Carol still holds 2 active keys' }).waitFor();
    await dialog.getByRole('listitem').filter({ hasText: 'carol ci' }).waitFor();
    expect(await dialog.getByRole('listitem').count()).toBe(2);
    await shot(page, 'deactivate');
    await dialog.getByRole('button', { name: 'Revoke 2 keys and deactivate' }).click();
    await notice(page, 'Deactivated Carol and revoked 2 key(s).');
    for (const key of held) expect((await keyOf(devs, key.id))?.status).toBe('REVOKED');
    await page.getByRole('row').filter({ hasText: 'Carol' }).filter({ hasText: 'Deactivated' }).waitFor();
    expect(await page.getByRole('button', { name: 'Deactivate Carol' }).count()).toBe(0);
    expect(await page.getByRole('button', { name: 'Deactivate Dan' }).count()).toBe(1);
  });

  test('usage: a chart by channel (and the other dimensions) and rejections by reason', async () => {
    const usage = await seedAccount(server, 'usage');
    const ide = await usage.createKey({ name: 'ide key' });
    const ci = await usage.createKey({ name: 'ci key', channelId: usage.channels.ci.id });
    for (const secret of [ide.secret, ide.secret, ci.secret]) expect((await verifyAt(server.baseUrl, usage.verifier, secret)).valid).toBe(true);
    const gone = await usage.createKey({ name: 'gone key' });
    await server.ok(usage.admin, 'mutation($id: ID!) { deleteApiKey(input: { id: $id }) { deletedApiKeyId } }', { id: gone.id });
    expect((await verifyAt(server.baseUrl, usage.verifier, gone.secret)).code).toBe('NOT_FOUND');
    // the counts are flushed every 100 ms here
    const page = await openConsole(usage.viewer, '?tab=usage');
    const section = page.getByRole('region', { name: 'Usage' });
    const total = section.locator('.toolbar [role="status"]');
    for (let tries = 0; ; tries++) {
      await total.filter({ hasText: 'verifications' }).waitFor();
      if ((await textOf(total)) === '4 verifications' || tries > 20) break;
      await page.waitForTimeout(250);
      await section.getByLabel('Range').selectOption(tries % 2 ? '7d' : '1d');
    }
    expect(await textOf(total)).toBe('4 verifications');
    await section.getByRole('img', { name: /Verifications by channel/ }).waitFor();
    expect(await section.locator('svg .series').count()).toBeGreaterThanOrEqual(2);
    const series = await section.getByRole('row').allTextContents();
    expect(series.some((r) => /IDE\s*2\s*2\s*0/.test(r))).toBe(true);
    expect(series.some((r) => /CI\s*1\s*1\s*0/.test(r))).toBe(true);
    expect(series.some((r) => /Unknown key\s*1/.test(r))).toBe(true);
    await shot(page, 'usage');
    await section.getByLabel('By', { exact: true }).selectOption('API_KEY');
    await section.getByRole('img', { name: /Verifications by api_key/ }).waitFor();
    await section.getByRole('row').filter({ hasText: 'ide key' }).waitFor();
    expect(new URL(page.url()).searchParams.get('by')).toBe('API_KEY');
  });

  test('keyboard: every action is reachable and every control is labelled; an empty account says what to do', async () => {
    const page = await openConsole(await server.token({ account: 'blank', roles: ['admin'], sub: 'blank-admin' }));
    await page.getByText('No API keys yet. Choose Add API key').waitFor();
    await shot(page, 'empty');

    // Tab from the top reaches "Add API key"; Enter opens it with focus in its first field; Escape closes it
    let reached = false;
    for (let i = 0; i < 40 && !reached; i++) {
      await page.keyboard.press('Tab');
      reached = await page.evaluate(() => (globalThis as unknown as { document: { activeElement: { textContent: string } | null } }).document.activeElement?.textContent === 'Add API key');
    }
    expect(reached).toBe(true);
    await page.keyboard.press('Enter');
    const dialog = page.getByRole('dialog', { name: 'Add API key' });
    await dialog.waitFor();
    expect(await dialog.getByLabel('Cloud').evaluate((el) => el === (el.ownerDocument.activeElement as unknown))).toBe(true);
    // a new account has no instance: the dialog says what to create first
    await dialog.getByLabel('Cloud').selectOption('SALESFORCE');
    await dialog.getByText('This account has no Salesforce instance yet').waitFor();
    await page.keyboard.press('Escape');
    await dialog.waitFor({ state: 'detached' });

    // every form control on every tab and in the dialogs has an accessible name
    const unlabelled = (p: Page) => p.evaluate(() => {
      type El = { tagName: string; type?: string; textContent: string | null; labels?: { length: number } | null; getAttribute(n: string): string | null };
      const doc = (globalThis as unknown as { document: { querySelectorAll(s: string): Iterable<El> } }).document;
      return [...doc.querySelectorAll('input, select, textarea, button')]
        .filter((el) => !(el.labels?.length) && !el.getAttribute('aria-label') && !(el.tagName === 'BUTTON' && el.textContent?.trim()))
        .map((el) => `${el.tagName.toLowerCase()}${el.type ? `[${el.type}]` : ''}`);
    });
    const admin = await openConsole(acme.admin);
    for (const query of ['', '?tab=developers', '?tab=usage', '?tab=audit']) {
      await admin.goto(`${server.baseUrl}/console${query}`);
      await admin.waitForLoadState('networkidle');
      expect([query, await unlabelled(admin)]).toEqual([query, []]);
    }
    await admin.goto(`${server.baseUrl}/console?q=svc+01`);
    await waitForRange(admin, '1–1 of 1');
    for (const [button, title] of [['Add API key', 'Add API key'], ['Edit svc 01', 'Edit svc 01'], ['Renew svc 01', 'Renew svc 01?'], ['History of svc 01', 'History of svc 01']]) {
      await admin.getByRole('button', { name: button, exact: true }).click();
      const opened = admin.getByRole('dialog', { name: title });
      await opened.waitFor();
      await admin.waitForLoadState('networkidle');
      expect([title, await unlabelled(admin)]).toEqual([title, []]);
      await admin.keyboard.press('Escape');
      await opened.waitFor({ state: 'detached' });
    }
  });
});
