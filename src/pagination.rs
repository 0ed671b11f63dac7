//! Lazy page iterators: the next page is fetched only when the previous one is used up.

use std::collections::VecDeque;

use crate::error::{Error, Result};

/// Smallest and largest page size the API accepts.
pub const PAGE_SIZE_RANGE: std::ops::RangeInclusive<u32> = 5..=100;

/// Checks a page size against the API's range before any request is made.
pub(crate) fn check_page_size(page_size: u32) -> Result<u32> {
    if PAGE_SIZE_RANGE.contains(&page_size) {
        Ok(page_size)
    } else {
        Err(Error::InvalidInput(format!(
            "page_size must be from {} to {}, got {page_size}",
            PAGE_SIZE_RANGE.start(),
            PAGE_SIZE_RANGE.end()
        )))
    }
}

/// Gives a list builder (a `Clone` type with a `page_size` field and a `page(n)` method) its
/// lazy `iter()` and `IntoIterator`.
macro_rules! impl_paged {
    ($list:ty => $item:ty, $what:literal) => {
        impl $list {
            #[doc = concat!("Every ", $what, ", fetched page by page as the iterator advances.")]
            pub fn iter(&self) -> $crate::pagination::Pages<$item> {
                let this = self.clone();
                $crate::pagination::Pages::new(
                    $crate::pagination::check_page_size(self.page_size),
                    move |page| this.page(page),
                )
            }
        }

        impl IntoIterator for $list {
            type Item = $crate::error::Result<$item>;
            type IntoIter = $crate::pagination::Pages<$item>;

            fn into_iter(self) -> Self::IntoIter {
                self.iter()
            }
        }
    };
}
pub(crate) use impl_paged;

type FetchPage<T> = Box<dyn FnMut(u32) -> Result<Vec<T>> + Send>;

/// An iterator over every item of a list operation, one `Result` per item.
///
/// Pages are fetched lazily (`page=1, 2, …`); a page shorter than the page size is the last.
/// After an error the iterator ends. Stop early (`break`, `take`) and no further page is fetched.
///
/// ```no_run
/// # let client = aignostics::Client::new()?;
/// let run = client.run("3fa85f64-5717-4562-b3fc-2c963f66afa6");
/// for item in run.items().page_size(20).iter().take(3) {
///     println!("{}", item?.external_id);
/// }
/// # Ok::<(), aignostics::Error>(())
/// ```
#[must_use = "iterators are lazy and do nothing unless consumed"]
pub struct Pages<T> {
    fetch: FetchPage<T>,
    page_size: usize,
    next_page: u32,
    buffer: VecDeque<T>,
    pending_error: Option<Error>,
    done: bool,
}

impl<T> std::fmt::Debug for Pages<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pages")
            .field("page_size", &self.page_size)
            .field("next_page", &self.next_page)
            .field("buffered", &self.buffer.len())
            .field("done", &self.done)
            .finish()
    }
}

impl<T> Pages<T> {
    /// Pages fetched by `fetch(page_number)` with `page_size` items per full page. A
    /// `page_size` error found while building the request is yielded first.
    pub(crate) fn new(
        page_size: Result<u32>,
        fetch: impl FnMut(u32) -> Result<Vec<T>> + Send + 'static,
    ) -> Self {
        let (page_size, pending_error) = match page_size {
            Ok(n) => (n as usize, None),
            Err(e) => (0, Some(e)),
        };
        Self {
            fetch: Box::new(fetch),
            page_size,
            next_page: 1,
            buffer: VecDeque::new(),
            pending_error,
            done: false,
        }
    }

    /// Collects every item, stopping at the first error.
    pub fn collect_all(self) -> Result<Vec<T>> {
        self.collect()
    }
}

impl<T> Iterator for Pages<T> {
    type Item = Result<T>;

    fn next(&mut self) -> Option<Self::Item> {
        if let Some(err) = self.pending_error.take() {
            self.done = true;
            return Some(Err(err));
        }
        if let Some(item) = self.buffer.pop_front() {
            return Some(Ok(item));
        }
        if self.done {
            return None;
        }
        match (self.fetch)(self.next_page) {
            Ok(page) => {
                if page.len() < self.page_size {
                    self.done = true;
                }
                self.next_page += 1;
                self.buffer.extend(page);
                let item = self.buffer.pop_front();
                if item.is_none() {
                    self.done = true;
                }
                item.map(Ok)
            }
            // A 404 past the first page means the list ended exactly on a page boundary.
            Err(err) if err.is_not_found() && self.next_page > 1 => {
                self.done = true;
                None
            }
            Err(err) => {
                self.done = true;
                Some(Err(err))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU32, Ordering};

    // Proves pages are fetched lazily and a short page ends the iteration. (FR-34)
    #[test]
    fn lazy_and_stops_on_short_page() {
        let calls = Arc::new(AtomicU32::new(0));
        let c = Arc::clone(&calls);
        let pages = Pages::new(Ok(5), move |page| {
            c.fetch_add(1, Ordering::SeqCst);
            let start = (page - 1) * 5;
            Ok((start..(start + 5).min(12)).collect::<Vec<u32>>())
        });
        let mut it = pages;
        assert_eq!(calls.load(Ordering::SeqCst), 0);
        assert_eq!(it.next().unwrap().unwrap(), 0);
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        let rest: Vec<u32> = it.map(|r| r.unwrap()).collect();
        assert_eq!(rest.len(), 11);
        assert_eq!(calls.load(Ordering::SeqCst), 3);
    }

    // Proves an invalid page size is reported before any fetch. (FR-34)
    #[test]
    fn invalid_page_size_fetches_nothing() {
        for bad in [0, 4, 101] {
            let mut it = Pages::<u32>::new(check_page_size(bad), |_| panic!("fetched"));
            let err = it.next().unwrap().unwrap_err();
            assert!(err.to_string().contains("page_size must be from 5 to 100"));
            assert!(it.next().is_none());
        }
    }
}
