#ifndef EDGE_CLMDB_SHIM_H
#define EDGE_CLMDB_SHIM_H
#include <lmdb.h>

/* LMDB's flag macros import into Swift as Int32 while its API takes unsigned int:
   re-export them as typed constants. */
static const unsigned int EDGE_MDB_NOTLS = MDB_NOTLS;
static const unsigned int EDGE_MDB_RDONLY = MDB_RDONLY;
static const unsigned int EDGE_MDB_CREATE = MDB_CREATE;
static const unsigned int EDGE_MDB_NOSUBDIR = MDB_NOSUBDIR;
static const unsigned int EDGE_MDB_NORDAHEAD = MDB_NORDAHEAD;
static const unsigned int EDGE_MDB_NOOVERWRITE = MDB_NOOVERWRITE;
static const unsigned int EDGE_MDB_APPEND = MDB_APPEND;
static const unsigned int EDGE_MDB_RESERVE = MDB_RESERVE;

static const int EDGE_MDB_NOTFOUND = MDB_NOTFOUND;
static const int EDGE_MDB_MAP_FULL = MDB_MAP_FULL;
static const int EDGE_MDB_MAP_RESIZED = MDB_MAP_RESIZED;
static const int EDGE_MDB_KEYEXIST = MDB_KEYEXIST;
static const int EDGE_MDB_TXN_FULL = MDB_TXN_FULL;
static const int EDGE_MDB_BAD_VALSIZE = MDB_BAD_VALSIZE;
static const int EDGE_MDB_READERS_FULL = MDB_READERS_FULL;

#endif
