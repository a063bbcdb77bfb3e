export interface TeamRecord {
  id: string;
  accountId: string;
  name: string;
  createdAt: Date;
}
