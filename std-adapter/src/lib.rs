//! vexil
