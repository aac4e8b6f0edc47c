-- The server's SQLite schema; every statement is idempotent (run on each start). A column added
-- later is also in database.ADDED_COLUMNS, which adds it to a database made before it existed.
CREATE TABLE IF NOT EXISTS indexes (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    models TEXT NOT NULL,
    addons TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS tasks (
    id TEXT PRIMARY KEY,
    index_id TEXT NOT NULL,
    video_id TEXT NOT NULL UNIQUE,
    status TEXT NOT NULL,
    filename TEXT NOT NULL,
    source_url TEXT,
    size INTEGER,
    user_metadata TEXT,
    duration REAL,
    width INTEGER,
    height INTEGER,
    fps REAL,
    error_code TEXT,
    error_message TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS tasks_status ON tasks(status);
CREATE INDEX IF NOT EXISTS tasks_index ON tasks(index_id);
CREATE TABLE IF NOT EXISTS videos (
    id TEXT PRIMARY KEY,
    index_id TEXT NOT NULL,
    task_id TEXT NOT NULL,
    filename TEXT NOT NULL,
    size INTEGER,
    duration REAL NOT NULL,
    width INTEGER,
    height INTEGER,
    fps REAL,
    user_metadata TEXT,
    transcription TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    indexed_at TEXT NOT NULL,
    language_info TEXT
);
CREATE INDEX IF NOT EXISTS videos_index ON videos(index_id);
CREATE TABLE IF NOT EXISTS assets (
    id TEXT PRIMARY KEY,
    method TEXT NOT NULL,
    status TEXT NOT NULL,
    filename TEXT NOT NULL,
    file_type TEXT NOT NULL,
    source_url TEXT,
    size INTEGER,
    duration REAL,
    width INTEGER,
    height INTEGER,
    fps REAL,
    has_audio INTEGER,
    user_metadata TEXT,
    error_message TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS assets_status ON assets(status);
CREATE TABLE IF NOT EXISTS multipart_uploads (
    id TEXT PRIMARY KEY,
    asset_id TEXT NOT NULL UNIQUE,
    status TEXT NOT NULL,
    total_size INTEGER NOT NULL,
    chunk_size INTEGER NOT NULL,
    total_chunks INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    expires_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS multipart_chunks (
    upload_id TEXT NOT NULL,
    chunk_index INTEGER NOT NULL,
    completed INTEGER NOT NULL,
    size INTEGER NOT NULL,
    etag TEXT NOT NULL,
    uploaded_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (upload_id, chunk_index)
);
CREATE TABLE IF NOT EXISTS indexed_assets (
    id TEXT PRIMARY KEY,
    index_id TEXT NOT NULL,
    asset_id TEXT NOT NULL,
    status TEXT NOT NULL,
    filename TEXT NOT NULL,
    size INTEGER,
    duration REAL,
    width INTEGER,
    height INTEGER,
    fps REAL,
    user_metadata TEXT,
    transcription TEXT,
    error_code TEXT,
    error_message TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    indexed_at TEXT,
    language_info TEXT
);
CREATE INDEX IF NOT EXISTS indexed_assets_status ON indexed_assets(status);
CREATE INDEX IF NOT EXISTS indexed_assets_asset ON indexed_assets(asset_id);
CREATE UNIQUE INDEX IF NOT EXISTS indexed_assets_once ON indexed_assets(index_id, asset_id) WHERE status != 'failed';
CREATE TABLE IF NOT EXISTS server_secrets (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
