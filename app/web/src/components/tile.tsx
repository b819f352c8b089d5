/** One number with its label; a `group` named by the label, so tests and screen readers find it by name. */
export function Tile({ label, value }: { label: string; value: string }) {
  return (
    <div className="tile" role="group" aria-label={label}>
      <span className="tile-label">{label}</span>
      <span className="tile-value">{value}</span>
    </div>
  );
}
