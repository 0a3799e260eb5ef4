// The public surface of pgnudge: re-exports only.
export type { PluginChoice, PluginName } from './decode/change.js';
export * from './errors.js';
export { NotifyBridge, type NotifyBridgeOptions } from './fanout/bridge.js';
export { NotifyFeed, type NotifyFeedOptions } from './fanout/notify-feed.js';
export { Batch, type FeedItem, NudgeEvent, Resync, type ResyncReason } from './feed/items.js';
export type { WalFeedOptions } from './feed/options.js';
export { WalFeed } from './feed/wal-feed.js';
export type { Logger } from './logger.js';
export type {
  ChannelBindingMode,
  ConnectionOptions,
  PasswordSource,
  SslMode,
  SslNegotiation,
} from './transport/settings.js';
