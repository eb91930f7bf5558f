// Text placed in HTML (file listings, the bench report): the five characters that matter, as
// numeric references.
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
