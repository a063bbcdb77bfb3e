export interface DeveloperRecord {
  id: string;
  accountId: string;
  name: string;
  active: boolean;
  createdAt: Date;
  deactivatedAt: Date | null;
}
