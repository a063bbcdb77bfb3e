// Knex CLI configuration (`npm run migrate`): the same database the service would use.
import { loadConfig } from './src/config';
import { knexConfig } from './src/db/database';

const config = loadConfig();
export default knexConfig(config.database, config.dbTimeoutMs);
