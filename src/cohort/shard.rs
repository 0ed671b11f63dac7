//! Which batches a worker takes: shard `K` of `N` owns the batches whose index ≡ K (mod N).

use std::fmt;
use std::str::FromStr;

use crate::error::{Error, Result};

/// Shard `index` of `count`: the worker takes the batches whose index modulo `count` is
/// `index`, so `count` workers with the indices `0..count` cover every batch exactly once.
///
/// ```
/// use aignostics::cohort::Shard;
/// let shard: Shard = "2/8".parse()?;
/// assert!(shard.owns(10) && !shard.owns(11));
/// # Ok::<(), aignostics::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Shard {
    index: u32,
    count: u32,
}

impl Default for Shard {
    /// One worker taking every batch (`0/1`).
    fn default() -> Self {
        Self { index: 0, count: 1 }
    }
}

impl Shard {
    /// Shard `index` (from 0) of `count`.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] when `count` is 0 or `index` is not below it.
    pub fn new(index: u32, count: u32) -> Result<Self> {
        if count == 0 || index >= count {
            return Err(Error::InvalidInput(format!(
                "shard {index}/{count}: the index must be below the number of shards, counting \
                 from 0 (e.g. 0/8 to 7/8)"
            )));
        }
        Ok(Self { index, count })
    }

    /// The shard of this process as a job array sets it:
    /// - a Kubernetes Indexed Job: `JOB_COMPLETION_INDEX`, with `count` given (the Job's
    ///   `completions`);
    /// - a Slurm job array: `SLURM_ARRAY_TASK_ID` less `SLURM_ARRAY_TASK_MIN` (divided by
    ///   `SLURM_ARRAY_TASK_STEP`), of `SLURM_ARRAY_TASK_COUNT` (or `count` when given);
    /// - an AWS Batch array job: `AWS_BATCH_JOB_ARRAY_INDEX`, with `count` given (the array's
    ///   size).
    ///
    /// # Errors
    /// [`Error::InvalidInput`] when none of these is set, a value is not a number, or the
    /// count is needed and not given, naming the variable.
    pub fn from_env(count: Option<u32>) -> Result<Self> {
        Self::from_vars(count, &|name| std::env::var(name).ok())
    }

    pub(crate) fn from_vars(
        count: Option<u32>,
        var: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self> {
        let number = |name: &str| -> Result<Option<u32>> {
            match var(name) {
                None => Ok(None),
                Some(text) => text.trim().parse().map(Some).map_err(|_| {
                    Error::InvalidInput(format!("{name}={text:?} is not a shard number"))
                }),
            }
        };
        let needs_count = |name: &str| {
            count.ok_or_else(|| {
                Error::InvalidInput(format!(
                    "{name} gives this worker's index but not the number of workers: give it \
                     as --shard auto/N (the Job's completions or the array's size)"
                ))
            })
        };
        if let Some(index) = number("JOB_COMPLETION_INDEX")? {
            return Self::new(index, needs_count("JOB_COMPLETION_INDEX")?);
        }
        if let Some(id) = number("SLURM_ARRAY_TASK_ID")? {
            let min = number("SLURM_ARRAY_TASK_MIN")?.unwrap_or(0);
            let step = number("SLURM_ARRAY_TASK_STEP")?.unwrap_or(1).max(1);
            let total = match count {
                Some(n) => n,
                None => number("SLURM_ARRAY_TASK_COUNT")?.ok_or_else(|| {
                    Error::InvalidInput(
                        "SLURM_ARRAY_TASK_ID is set without SLURM_ARRAY_TASK_COUNT: give the \
                         array's size as --shard auto/N"
                            .into(),
                    )
                })?,
            };
            let index = id.checked_sub(min).ok_or_else(|| {
                Error::InvalidInput(format!(
                    "SLURM_ARRAY_TASK_ID {id} is below SLURM_ARRAY_TASK_MIN {min}"
                ))
            })? / step;
            return Self::new(index, total);
        }
        if let Some(index) = number("AWS_BATCH_JOB_ARRAY_INDEX")? {
            return Self::new(index, needs_count("AWS_BATCH_JOB_ARRAY_INDEX")?);
        }
        Err(Error::InvalidInput(
            "--shard auto: none of JOB_COMPLETION_INDEX (Kubernetes), SLURM_ARRAY_TASK_ID \
             (Slurm) or AWS_BATCH_JOB_ARRAY_INDEX (AWS Batch) is set; give the shard as K/N"
                .into(),
        ))
    }

    /// This worker's index, from 0.
    pub fn index(&self) -> u32 {
        self.index
    }

    /// The number of workers.
    pub fn count(&self) -> u32 {
        self.count
    }

    /// Whether this worker takes batch `batch`.
    pub fn owns(&self, batch: usize) -> bool {
        batch % self.count as usize == self.index as usize
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl FromStr for Shard {
    type Err = Error;

    /// `K/N`, e.g. `3/8`.
    fn from_str(text: &str) -> Result<Self> {
        let bad = || {
            Error::InvalidInput(format!(
                "shard {text:?}: expected K/N with K from 0 to N-1, e.g. 3/8"
            ))
        };
        let (k, n) = text.split_once('/').ok_or_else(bad)?;
        Self::new(
            k.trim().parse().map_err(|_| bad())?,
            n.trim().parse().map_err(|_| bad())?,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]
        // Proves every batch is owned by exactly one shard, whatever the number of shards. (FR-98)
        #[test]
        fn every_batch_has_exactly_one_owner(count in 1u32..64, batch in 0usize..100_000) {
            let owners = (0..count).filter(|&k| Shard::new(k, count).unwrap().owns(batch)).count();
            prop_assert_eq!(owners, 1);
        }

        // Proves any text parses to a valid shard or a typed error, never a panic. (FR-98)
        #[test]
        fn any_text_parses_or_is_refused(text in "\\PC{0,12}") {
            if let Ok(shard) = text.parse::<Shard>() {
                prop_assert!(shard.index() < shard.count());
            }
        }
    }

    // Proves K and N are read from Kubernetes, Slurm and AWS Batch array variables. (FR-98)
    #[test]
    fn shards_from_job_arrays() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| (*v).to_string())
            }
        };
        let k8s = env(&[("JOB_COMPLETION_INDEX", "3")]);
        assert_eq!(
            Shard::from_vars(Some(8), &k8s).unwrap(),
            Shard::new(3, 8).unwrap()
        );
        let missing = Shard::from_vars(None, &k8s).unwrap_err().to_string();
        assert!(missing.contains("auto/N"), "{missing}");
        let slurm = env(&[
            ("SLURM_ARRAY_TASK_ID", "12"),
            ("SLURM_ARRAY_TASK_MIN", "10"),
            ("SLURM_ARRAY_TASK_STEP", "2"),
            ("SLURM_ARRAY_TASK_COUNT", "4"),
        ]);
        assert_eq!(
            Shard::from_vars(None, &slurm).unwrap(),
            Shard::new(1, 4).unwrap()
        );
        let batch = env(&[("AWS_BATCH_JOB_ARRAY_INDEX", "7")]);
        assert_eq!(
            Shard::from_vars(Some(8), &batch).unwrap(),
            Shard::new(7, 8).unwrap()
        );
        assert!(Shard::from_vars(Some(4), &batch).is_err(), "index 7 of 4");
        let none = Shard::from_vars(Some(4), &env(&[]))
            .unwrap_err()
            .to_string();
        assert!(none.contains("JOB_COMPLETION_INDEX"), "{none}");
        let junk = env(&[("SLURM_ARRAY_TASK_ID", "x")]);
        assert!(
            Shard::from_vars(None, &junk)
                .unwrap_err()
                .to_string()
                .contains("SLURM_ARRAY_TASK_ID")
        );
        assert_eq!("0/1".parse::<Shard>().unwrap(), Shard::default());
        assert!("8/8".parse::<Shard>().is_err() && "1/0".parse::<Shard>().is_err());
    }
}
