//! A glaux project opened: its settings, its catalog (registry over warehouse) and the engine
//! that builds its SQL sessions. The front ends and the pipeline start here; the layers below
//! are handed the parts they need and never see a project.

use std::path::PathBuf;

use datafusion::prelude::SessionContext;

use crate::catalog::{Catalog, Registry};
use crate::config::{Overrides, Settings};
use crate::engine::{Engine, EngineOptions};
use crate::error::{Context, Result};
use crate::jobs::Job;
use crate::warehouse::Warehouse;

/// An open project.
#[derive(Debug, Clone)]
pub struct Project {
    /// Resolved settings.
    pub settings: Settings,
    /// The registry over the warehouse.
    pub catalog: Catalog,
}

impl Project {
    /// Resolves settings from the process environment and opens warehouse and registry.
    pub fn open(overrides: &Overrides) -> Result<Project> {
        let mut project = Self::open_without_registry(overrides)?;
        project.catalog.registry = Registry::load(&project.settings.catalog_dir(), project.catalog.warehouse.url())?;
        Ok(project)
    }

    /// Opens settings and warehouse only, with an empty registry: for checking the registry.
    pub fn open_without_registry(overrides: &Overrides) -> Result<Project> {
        let cwd = std::env::current_dir().context("cannot determine the current directory")?;
        let settings = Settings::resolve(overrides, &|name| std::env::var(name).ok(), &cwd)?;
        let warehouse = Warehouse::open(&settings.warehouse)?;
        Ok(Project { settings, catalog: Catalog { registry: Registry::default(), warehouse } })
    }

    /// The engine over this project's tables, with the views and functions its domains add
    /// (`aurora_logs.rejects`, the log fingerprints).
    pub fn engine(&self) -> Engine {
        let engine = crate::logs::functions::all()
            .into_iter()
            .fold(Engine::new(&self.catalog, &self.settings.warehouse), Engine::with_function)
            .on_cluster(self.settings.cluster.clone(), self.settings.cluster_partitions);
        match crate::logs::rejects_view(&self.catalog) {
            Some((name, view)) => engine.with_table(name, view),
            None => engine,
        }
    }

    /// A SQL session over this project's tables.
    pub fn session(&self, options: &EngineOptions) -> Result<SessionContext> {
        Ok(self.engine().session(options)?)
    }

    /// The jobs defined in `sql/`, checked against the registry.
    pub fn jobs(&self) -> Result<Vec<Job>> {
        Ok(crate::jobs::load_all(&self.settings.project.join("sql"), &self.catalog.registry)?)
    }

    /// `data/` in the project.
    pub fn data_dir(&self) -> PathBuf {
        self.settings.project.join("data")
    }
}
