// `qckeys whoami`: the token's subject, account and roles, as the server sees them.
import { Command } from 'commander';
import { ViewerDocument } from '../../client/index';
import { runtime } from '../runtime';

export function whoamiCommand(): Command {
  return new Command('whoami').description('show the subject, account and roles of the token')
    .action(async (_opts: unknown, cmd: Command) => {
      const rt = runtime(cmd);
      const { viewer } = await rt.client.request(ViewerDocument, {});
      await rt.print(viewer, () => `subject  ${viewer.subject}\naccount  ${viewer.accountId}\nroles    ${viewer.roles.join(', ')}`);
    });
}
