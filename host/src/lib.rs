//! tasker-host library (in progress)
