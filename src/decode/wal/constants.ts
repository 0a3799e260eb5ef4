// Constants of the WAL format (src/include/access/xlog_internal.h, xlogrecord.h, rmgrlist.h), the same in
// PostgreSQL 15–18 except where a per-major table says otherwise. Only little-endian servers with
// XLOG_BLCKSZ = BLCKSZ = 8192 are read (the build default, and what every packaged server uses).

/** XLOG_BLCKSZ and BLCKSZ. */
export const PAGE_SIZE = 8192;
/** MAXALIGN: records start on 8-byte boundaries. */
export const ALIGN = 8;
/** SizeOfXLogShortPHD: MAXALIGN(sizeof(XLogPageHeaderData)). */
export const SHORT_PAGE_HEADER = 24;
/** SizeOfXLogLongPHD: the first page of a segment also names the system, segment size and page size. */
export const LONG_PAGE_HEADER = 40;
/** SizeOfXLogRecord. */
export const RECORD_HEADER = 24;
/** XLogRecordMaxSize: PostgreSQL never writes a longer record. */
export const MAX_RECORD_LENGTH = 1020 * 1024 * 1024;

/** xlp_info bits. */
export const XLP_FIRST_IS_CONTRECORD = 0x0001;
export const XLP_LONG_HEADER = 0x0002;
export const XLP_FIRST_IS_OVERWRITE_CONTRECORD = 0x0008;
export const XLP_ALL_FLAGS = 0x000f;

/** XLOG_PAGE_MAGIC per major: it changes whenever the WAL format does. */
export const PAGE_MAGIC_BY_MAJOR: ReadonlyMap<number, number> = new Map([
  [15, 0xd110],
  [16, 0xd113],
  [17, 0xd116],
  [18, 0xd118],
]);
export const MAJOR_BY_PAGE_MAGIC: ReadonlyMap<number, number> = new Map(
  [...PAGE_MAGIC_BY_MAJOR].map(([major, magic]) => [magic, major]),
);

/** wal_segment_size bounds (WalSegMinSize, WalSegMaxSize); it must also be a power of two. */
export const MIN_SEGMENT_SIZE = 1024 * 1024;
export const MAX_SEGMENT_SIZE = 1024 * 1024 * 1024;

/** Block reference ids that are not blocks (xlogrecord.h). */
export const XLR_MAX_BLOCK_ID = 32;
export const XLR_BLOCK_ID_DATA_SHORT = 255;
export const XLR_BLOCK_ID_DATA_LONG = 254;
export const XLR_BLOCK_ID_ORIGIN = 253;
export const XLR_BLOCK_ID_TOPLEVEL_XID = 252;

/** fork_flags bits of a block header. */
export const BKPBLOCK_FORK_MASK = 0x0f;
export const BKPBLOCK_HAS_IMAGE = 0x10;
export const BKPBLOCK_HAS_DATA = 0x20;
export const BKPBLOCK_WILL_INIT = 0x40;
export const BKPBLOCK_SAME_REL = 0x80;

/** bimg_info bits of a full-page image, as of PostgreSQL 15 (14 had one IS_COMPRESSED bit instead). */
export const BKPIMAGE_HAS_HOLE = 0x01;
export const BKPIMAGE_APPLY = 0x02;
export const BKPIMAGE_COMPRESS_PGLZ = 0x04;
export const BKPIMAGE_COMPRESS_LZ4 = 0x08;
export const BKPIMAGE_COMPRESS_ZSTD = 0x10;
export const BKPIMAGE_COMPRESSED = BKPIMAGE_COMPRESS_PGLZ | BKPIMAGE_COMPRESS_LZ4 | BKPIMAGE_COMPRESS_ZSTD;

/**
 * The upper bound of the block and data headers that follow a record header: 33 block headers of at most
 * 27 bytes (header 4, image header 5, hole length 2, RelFileLocator 12, block number 4), the origin (3),
 * the top-level xid (5) and a long main-data header (5).
 */
export const MAX_HEADERS_LENGTH = (XLR_MAX_BLOCK_ID + 1) * 27 + 3 + 5 + 5;

/** Resource manager ids (rmgrlist.h): built-ins 0–21 in 15–18, custom ones from 128. */
export const RM_XLOG_ID = 0;
export const RM_XACT_ID = 1;
export const RM_SMGR_ID = 2;
export const RM_STANDBY_ID = 8;
export const RM_HEAP2_ID = 9;
export const RM_HEAP_ID = 10;
export const RM_MAX_BUILTIN_ID = 21;
export const RM_MIN_CUSTOM_ID = 128;

/** Names of the built-in resource managers, as pg_waldump and pg_walinspect print them. */
export const RMGR_NAMES: readonly string[] = [
  'XLOG',
  'Transaction',
  'Storage',
  'CLOG',
  'Database',
  'Tablespace',
  'MultiXact',
  'RelMap',
  'Standby',
  'Heap2',
  'Heap',
  'Btree',
  'Hash',
  'Gin',
  'Gist',
  'Sequence',
  'SPGist',
  'BRIN',
  'CommitTs',
  'ReplicationOrigin',
  'Generic',
  'LogicalMessage',
];

/** RM_XLOG_ID record types the reader acts on. */
export const XLOG_SWITCH = 0x40;
export const XLOG_OVERWRITE_CONTRECORD = 0xd0;
