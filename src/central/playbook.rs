//! CACAO 2.0 playbooks: the model, validation against the OASIS schemas, and
//! the engine that runs them (manual steps become tasks for people,
//! automated steps become canhgac actions), persisted so a restart resumes.
//!
//! Empty for now; the incidents-and-playbooks issue fills it.
