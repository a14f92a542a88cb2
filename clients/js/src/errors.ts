/**
 * The one error type for problems a user can cause and fix (bad input, missing file, wrong artifact), as in
 * the Python runtime: its message names the problem and the fix in one sentence. Anything else is a bug.
 */
export class UserError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UserError";
  }
}

/** An artifact is missing, incomplete, or of a format this version cannot read. */
export class ArtifactError extends UserError {
  constructor(message: string) {
    super(message);
    this.name = "ArtifactError";
  }
}
