//! Files that hold HR data (the state store, `--changes-out`) are created
//! readable by their owner only (mode 0600 on unix), whatever the umask.

use std::fs::{File, OpenOptions};
use std::io;
use std::path::Path;

/// The mode of every file the harness creates for HR data.
#[cfg(unix)]
pub const PRIVATE_MODE: u32 = 0o600;

/// Opens `path` for writing, creating it with mode 0600 when it does not
/// exist (an existing file keeps its mode). With `truncate`, an existing
/// file is emptied.
///
/// # Errors
/// The I/O error of the open or of setting the mode.
pub fn create_private(path: &Path, truncate: bool) -> io::Result<File> {
    let mut new = OpenOptions::new();
    new.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        new.mode(PRIVATE_MODE);
    }
    match new.open(path) {
        Ok(file) => {
            // The umask may have taken bits away (never added any): set the
            // mode on the open handle so it is exactly 0600.
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                file.set_permissions(std::fs::Permissions::from_mode(PRIVATE_MODE))?;
            }
            Ok(file)
        }
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            OpenOptions::new().write(true).truncate(truncate).open(path)
        }
        Err(e) => Err(e),
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn a_new_file_is_0600_and_an_existing_one_keeps_its_mode() {
        let dir = std::env::temp_dir().join(format!("harness-private-{}", rand::random::<u64>()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("new");
        drop(create_private(&path, true).unwrap());
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);

        let old = dir.join("old");
        std::fs::write(&old, "previous").unwrap();
        std::fs::set_permissions(&old, std::fs::Permissions::from_mode(0o640)).unwrap();
        drop(create_private(&old, true).unwrap());
        let meta = std::fs::metadata(&old).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, 0o640);
        assert_eq!(meta.len(), 0, "truncated");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
