//! A trial's rows into SQLite through its C API, on the connection sqlx
//! holds.
//!
//! sqlx runs a SQLite connection on a worker thread, and every statement is
//! a round trip to it: two thread switches, which cost as much as writing
//! dozens of rows. For the bulk of a trial the store locks the connection
//! out of the worker (`SqliteConnection::lock_handle`) and prepares, binds
//! and steps one-row statements here, on the calling thread, inside the
//! transaction sqlx opened: what `sqlite3`'s `.import` does, binding
//! numbers as numbers rather than parsing text.
//!
//! `libsqlite3-sys` is the version sqlx links (one crate may link SQLite,
//! so a mismatch fails the build rather than the run).
#![allow(unsafe_code)]

use std::ffi::{c_int, CStr};
use std::marker::PhantomData;
use std::ptr::{self, NonNull};

use libsqlite3_sys as ffi;
use sqlx::sqlite::LockedSqliteHandle;

use crate::{Error, Result};

/// The connection, borrowed for as long as sqlx's worker is locked out.
pub(super) struct Db<'h> {
    raw: NonNull<ffi::sqlite3>,
    _lock: PhantomData<&'h mut ()>,
}

impl<'h> Db<'h> {
    /// The connection behind `lock`; the borrow keeps the worker locked out
    /// for as long as this lives.
    pub(super) fn new(lock: &'h mut LockedSqliteHandle<'_>) -> Db<'h> {
        Db {
            raw: lock.as_raw_handle(),
            _lock: PhantomData,
        }
    }

    /// Prepares one statement (`sql` must hold exactly one).
    pub(super) fn prepare(&self, sql: &str) -> Result<Stmt<'_>> {
        let len = c_int::try_from(sql.len())
            .map_err(|_| Error::Dataset(format!("statement too long: {} bytes", sql.len())))?;
        let mut raw = ptr::null_mut();
        // SAFETY: `self.raw` is an open connection that no other thread
        // uses while the lock lives; `sql` is valid for `len` bytes and
        // SQLite reads no further; `raw` is a valid out-pointer.
        let rc = unsafe {
            ffi::sqlite3_prepare_v2(
                self.raw.as_ptr(),
                sql.as_ptr().cast(),
                len,
                &mut raw,
                ptr::null_mut(),
            )
        };
        if rc != ffi::SQLITE_OK {
            return Err(self.error(rc, sql));
        }
        let raw =
            NonNull::new(raw).ok_or_else(|| Error::Dataset(format!("no statement in `{sql}`")))?;
        Ok(Stmt {
            db: self,
            raw,
            sql: sql.to_string(),
            next: 1,
            bind_rc: ffi::SQLITE_OK,
        })
    }

    /// The connection's last error, for the statement `sql`.
    fn error(&self, rc: c_int, sql: &str) -> Error {
        // SAFETY: sqlite3_errmsg returns a NUL-terminated string owned by
        // the connection, valid until its next call; it is copied at once.
        let message = unsafe { CStr::from_ptr(ffi::sqlite3_errmsg(self.raw.as_ptr())) }
            .to_string_lossy()
            .into_owned();
        Error::Sqlite {
            code: rc,
            message,
            statement: sql.chars().take(120).collect(),
        }
    }
}

/// A prepared statement, finalized on drop.
pub(super) struct Stmt<'d> {
    db: &'d Db<'d>,
    raw: NonNull<ffi::sqlite3_stmt>,
    sql: String,
    /// The next parameter to bind (1-based).
    next: c_int,
    /// The first failed bind since the last run.
    bind_rc: c_int,
}

/// A value that binds to one parameter.
pub(super) trait Value {
    /// Binds `self` to parameter `i` of `stmt`; SQLite's result code.
    fn bind_to(&self, stmt: &mut Stmt<'_>, i: c_int) -> c_int;
}

impl Value for i64 {
    fn bind_to(&self, stmt: &mut Stmt<'_>, i: c_int) -> c_int {
        // SAFETY: `stmt.raw` is a live statement of a connection this
        // thread holds.
        unsafe { ffi::sqlite3_bind_int64(stmt.raw.as_ptr(), i, *self) }
    }
}

impl Value for u32 {
    fn bind_to(&self, stmt: &mut Stmt<'_>, i: c_int) -> c_int {
        i64::from(*self).bind_to(stmt, i)
    }
}

impl Value for bool {
    fn bind_to(&self, stmt: &mut Stmt<'_>, i: c_int) -> c_int {
        i64::from(*self).bind_to(stmt, i)
    }
}

impl Value for f64 {
    fn bind_to(&self, stmt: &mut Stmt<'_>, i: c_int) -> c_int {
        // SAFETY: as for i64.
        unsafe { ffi::sqlite3_bind_double(stmt.raw.as_ptr(), i, *self) }
    }
}

impl Value for str {
    fn bind_to(&self, stmt: &mut Stmt<'_>, i: c_int) -> c_int {
        let Ok(len) = c_int::try_from(self.len()) else {
            return ffi::SQLITE_TOOBIG;
        };
        // SAFETY: as for i64; `self` is valid for `len` bytes and
        // SQLITE_TRANSIENT makes SQLite copy them before returning.
        unsafe {
            ffi::sqlite3_bind_text(
                stmt.raw.as_ptr(),
                i,
                self.as_ptr().cast(),
                len,
                ffi::SQLITE_TRANSIENT(),
            )
        }
    }
}

impl Value for String {
    fn bind_to(&self, stmt: &mut Stmt<'_>, i: c_int) -> c_int {
        self.as_str().bind_to(stmt, i)
    }
}

impl<T: Value + ?Sized> Value for &T {
    fn bind_to(&self, stmt: &mut Stmt<'_>, i: c_int) -> c_int {
        (**self).bind_to(stmt, i)
    }
}

impl<T: Value> Value for Option<T> {
    fn bind_to(&self, stmt: &mut Stmt<'_>, i: c_int) -> c_int {
        match self {
            Some(v) => v.bind_to(stmt, i),
            // SAFETY: as for i64.
            None => unsafe { ffi::sqlite3_bind_null(stmt.raw.as_ptr(), i) },
        }
    }
}

impl Stmt<'_> {
    /// Binds the next parameter.
    pub(super) fn bind(&mut self, v: impl Value) -> &mut Self {
        let rc = v.bind_to(self, self.next);
        if rc != ffi::SQLITE_OK && self.bind_rc == ffi::SQLITE_OK {
            self.bind_rc = rc;
        }
        self.next += 1;
        self
    }

    /// Runs the statement with the parameters bound since the last run (a
    /// statement that returns no rows), then readies it for the next.
    pub(super) fn run(&mut self) -> Result<()> {
        let bound = std::mem::replace(&mut self.bind_rc, ffi::SQLITE_OK);
        self.next = 1;
        if bound != ffi::SQLITE_OK {
            return Err(self.db.error(bound, &self.sql));
        }
        // SAFETY: as for i64.
        let rc = unsafe { ffi::sqlite3_step(self.raw.as_ptr()) };
        // SAFETY: as for i64. After a failed step, reset returns the same
        // error, so the step's code is the one reported.
        unsafe { ffi::sqlite3_reset(self.raw.as_ptr()) };
        match rc {
            ffi::SQLITE_DONE => Ok(()),
            ffi::SQLITE_ROW => Err(Error::Dataset(format!(
                "`{}` returned rows where none were expected",
                self.sql
            ))),
            rc => Err(self.db.error(rc, &self.sql)),
        }
    }
}

impl Drop for Stmt<'_> {
    fn drop(&mut self) {
        // SAFETY: `self.raw` came from sqlite3_prepare_v2 and is finalized
        // once, here, while the connection is still held.
        unsafe { ffi::sqlite3_finalize(self.raw.as_ptr()) };
    }
}
