export interface ChannelRecord {
  id: string;
  accountId: string;
  name: string;
  createdAt: Date;
}
