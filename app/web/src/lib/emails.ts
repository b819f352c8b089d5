/** The emails in a textarea: split on commas, semicolons and whitespace, without blanks or repeats. */
export function parseEmails(text: string): string[] {
  return [...new Set(text.split(/[\s,;]+/).map((email) => email.trim().toLowerCase()).filter(Boolean))];
}
