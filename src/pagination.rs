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
/// A server that ignores `page` cannot make it run forever: a page that starts with the same
/// entry as the page before it ends the iteration with an error. After an error the iterator
/// ends. Stop early (`break`, `take`) and no further page is fetched.
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
    guard: PageGuard<T>,
}

/// Stops a listing whose server repeats pages or lists more than it announced.
struct PageGuard<T> {
    /// The first entry of the last page, and how to compare and copy entries.
    previous_first: Option<T>,
    same: fn(&T, &T) -> bool,
    copy: fn(&T) -> T,
    /// Entries listed so far, and the most the server announced (e.g. a run's item count).
    listed: u64,
    at_most: Option<u64>,
}

impl<T> PageGuard<T> {
    /// The error for a page that cannot be right, if this one cannot.
    fn check(&mut self, number: u32, page: &[T]) -> Option<Error> {
        let first = page.first()?;
        if self
            .previous_first
            .as_ref()
            .is_some_and(|p| (self.same)(p, first))
        {
            return Some(Error::UnexpectedResponse {
                operation: "list".to_string(),
                message: format!(
                    "page {number} starts with the same entry as page {}: the server seems to \
                     ignore the `page` parameter; stopped listing",
                    number.saturating_sub(1)
                ),
            });
        }
        self.previous_first = Some((self.copy)(first));
        self.listed = self.listed.saturating_add(page.len() as u64);
        match self.at_most {
            Some(limit) if self.listed > limit => Some(Error::UnexpectedResponse {
                operation: "list".to_string(),
                message: format!(
                    "the server listed more than the {limit} entries it announced (page \
                     {number}); stopped listing"
                ),
            }),
            _ => None,
        }
    }
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
    ) -> Self
    where
        T: PartialEq + Clone,
    {
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
            guard: PageGuard {
                previous_first: None,
                same: T::eq,
                copy: T::clone,
                listed: 0,
                at_most: None,
            },
        }
    }

    /// Ends with an error once the server lists more than `total` entries (the number it
    /// announced elsewhere, e.g. a run's item count).
    pub(crate) fn at_most(mut self, total: u64) -> Self {
        self.guard.at_most = Some(total);
        self
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
                if let Some(err) = self.guard.check(self.next_page, &page) {
                    self.done = true;
                    return Some(Err(err));
                }
                if page.len() < self.page_size {
                    self.done = true;
                }
                self.next_page = self.next_page.saturating_add(1);
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

    // Proves a server that ignores `page` (always the same full page) ends the iteration with
    // an error after two pages instead of never. (FR-51)
    #[test]
    fn repeated_page_is_an_error() {
        let calls = Arc::new(AtomicU32::new(0));
        let c = Arc::clone(&calls);
        let pages = Pages::new(Ok(5), move |_| {
            c.fetch_add(1, Ordering::SeqCst);
            Ok((0..5).collect::<Vec<u32>>())
        });
        let results: Vec<Result<u32>> = pages.take(1_000).collect();
        let err = results
            .iter()
            .find_map(|r| r.as_ref().err())
            .expect("an error");
        assert!(
            err.to_string().contains("ignore the `page` parameter"),
            "{err}"
        );
        assert_eq!(results.len(), 6);
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }

    // Proves a listing past the announced total ends with an error. (FR-51)
    #[test]
    fn past_announced_total_is_an_error() {
        let pages = Pages::new(Ok(5), |page| {
            Ok(((page - 1) * 5..page * 5).collect::<Vec<u32>>())
        })
        .at_most(12);
        let results: Vec<Result<u32>> = pages.take(1_000).collect();
        assert_eq!(results.len(), 11, "two pages, then the error");
        let err = results[10].as_ref().unwrap_err();
        assert!(
            err.to_string().contains("more than the 12 entries"),
            "{err}"
        );
        let exact = Pages::new(Ok(5), |page| {
            Ok(((page - 1) * 5..(page * 5).min(10)).collect::<Vec<u32>>())
        })
        .at_most(10);
        assert_eq!(exact.collect_all().unwrap().len(), 10);
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
