/** The always-visible notice: not a diagnosis, and where the model's training data comes from. */
export function Notice() {
  return (
    <aside className="notice" aria-label="Important notice">
      <p className="notice-main">
        <strong>Research demonstration, not a medical diagnosis.</strong> See a dermatologist about any skin lesion
        that worries you.
      </p>
      <p className="notice-licence">
        The model was trained on dermoscopic images from the HAM10000 data set (Tschandl, Rosendahl &amp; Kittler,
        Sci. Data 5, 180161, 2018), licensed CC BY-NC 4.0, and the ISIC 2017 challenge (Codella et al., ISBI 2017),
        CC-0 or CC BY-NC, both via the ISIC Archive: for non-commercial research use only.
      </p>
    </aside>
  );
}
