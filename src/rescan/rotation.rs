//! Where a capped rescan of every target stopped (`CDN_LOG_RESCAN_MAX_DISTRIBUTIONS`), so the
//! next one starts there and wraps around: over successive runs every target is checked, not
//! the same first ones each time. One item, `SYSTEM` / `RESCAN#ROTATION`.

use crate::attributes::{get_s, s};
use crate::records::{StoreError, Table};
use crate::rescan::enumerate::Cursor;

const PK: &str = "SYSTEM";
const SK: &str = "RESCAN#ROTATION";

impl Table {
    /// Where the next capped rescan of every target starts; `None` from the beginning.
    pub async fn rotation_start(&self) -> Result<Option<Cursor>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.name)
            .key("pk", s(PK))
            .key("sk", s(SK))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| StoreError::from_sdk("GetItem", &e))?;
        Ok(output
            .item
            .as_ref()
            .and_then(|item| get_s(item, "cursor"))
            .and_then(|text| serde_json::from_str::<Cursor>(text).ok())
            .filter(|cursor| !cursor.done))
    }

    /// Records where the next capped rescan starts (`None`: from the beginning).
    pub async fn save_rotation(&self, next: Option<&Cursor>) -> Result<(), StoreError> {
        let Some(cursor) = next else {
            self.client
                .delete_item()
                .table_name(&self.name)
                .key("pk", s(PK))
                .key("sk", s(SK))
                .send()
                .await
                .map_err(|e| StoreError::from_sdk("DeleteItem", &e))?;
            return Ok(());
        };
        let text = serde_json::to_string(cursor).expect("a cursor serializes");
        self.client
            .put_item()
            .table_name(&self.name)
            .item("pk", s(PK))
            .item("sk", s(SK))
            .item("cursor", s(text))
            .send()
            .await
            .map_err(|e| StoreError::from_sdk("PutItem", &e))?;
        Ok(())
    }
}
