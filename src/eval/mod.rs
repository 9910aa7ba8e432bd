//! Metrics and HTML reports for trained runs: see the eval issue.
