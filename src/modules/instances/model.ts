import type { Cloud } from '../../generated/graphql';

export interface InstanceRecord {
  id: string;
  accountId: string;
  name: string;
  cloud: Cloud;
  url: string | null;
  createdAt: Date;
  updatedAt: Date;
}
